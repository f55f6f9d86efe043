"""The mail outbox: written in the event's transaction, sent after commit one message at a time, retried with
back-off, given up after MAIL_MAX_ATTEMPTS, never sent twice.

The `deliver` hook of send_due is the SMTP transport boundary; the tests pass a recording transport there (and
one test talks SMTP to a small local server). Everything else goes through the real database.
"""

import socketserver
import threading
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header

import pytest
from sqlalchemy import func, select

from instrument_share.accounts import auth
from instrument_share.accounts.models import AccountToken
from instrument_share.audit.models import AuditEntry
from instrument_share.db import db
from instrument_share.mail import outbox
from instrument_share.mail.models import OutboxMessage

from .._procs import PROCESSES, outbox_sender
from ..factories import csrf_from


class Transport:
    """Records what it delivers; fails for the recipients (or the first n calls) it is told to."""

    def __init__(self, fail_for: tuple[str, ...] = (), fail_first: int = 0):
        self.delivered: list[tuple[int, str, str]] = []
        self.attempts: list[int] = []
        self.fail_for, self.fail_first = fail_for, fail_first

    def __call__(self, message: OutboxMessage) -> None:
        self.attempts.append(message.id)
        if message.recipient in self.fail_for or len(self.attempts) <= self.fail_first:
            raise ConnectionRefusedError(f"SMTP server refused {message.recipient}")
        self.delivered.append((message.id, message.recipient, message.subject))


def queue(*recipients: str) -> list[int]:
    ids = []
    with db.transaction():
        for recipient in recipients:
            ids.append(outbox.enqueue(recipient, f"Mail for {recipient}", "reset_password", user=None,
                                      link="http://localhost/password/reset/abc").id)
    return ids


def stored(message_id: int) -> OutboxMessage:
    db.session.rollback()
    return db.session.scalars(select(OutboxMessage).where(OutboxMessage.id == message_id)
                              .execution_options(populate_existing=True)).one()


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


# ---- queued with the event --------------------------------------------------------------------------------


def test_mail_is_queued_in_the_same_transaction_as_its_event(app, factory):
    user = factory.user()
    with db.transaction():
        auth.request_password_reset(user.email)
    mails = factory.outbox(user.email)
    assert len(mails) == 1 and mails[0].status == "pending" and mails[0].attempts == 0
    assert "/password/reset/" in mails[0].body
    assert count(AccountToken) == 1

    before = (count(OutboxMessage), count(AccountToken), count(AuditEntry))
    with pytest.raises(RuntimeError), db.transaction():
        auth.request_password_reset(user.email)
        assert len(factory.outbox(user.email)) == 2  # queued inside the transaction...
        raise RuntimeError("the event fails after its mail was queued")
    assert (count(OutboxMessage), count(AccountToken), count(AuditEntry)) == before  # ...and gone with it


def test_the_forgotten_password_form_queues_the_mail_and_sends_nothing_itself(app, client, factory):
    user = factory.user()
    token = csrf_from(client.get("/password/forgot").get_data(as_text=True))
    response = client.post("/password/forgot", data={"email": user.email, "csrf_token": token})
    assert response.status_code == 302
    mails = factory.outbox(user.email)
    assert [(m.status, m.attempts, m.sent_at) for m in mails] == [("pending", 0, None)]


# ---- sending -----------------------------------------------------------------------------------------------


def test_send_due_sends_each_pending_message_once(app, frozen_clock):
    ids = queue("a@example.cn", "b@example.cn", "c@example.cn")
    transport = Transport()
    assert outbox.send_due(deliver=transport) == {"sent": 3, "retry": 0, "failed": 0}
    assert [d[0] for d in transport.delivered] == ids
    for message_id in ids:
        message = stored(message_id)
        assert (message.status, message.attempts, message.sent_at) == ("sent", 1, frozen_clock.now)

    # Running again, now or much later, sends nothing twice.
    assert outbox.send_due(deliver=transport) == {"sent": 0, "retry": 0, "failed": 0}
    frozen_clock.move(days=3)
    assert outbox.send_due(deliver=transport) == {"sent": 0, "retry": 0, "failed": 0}
    assert len(transport.attempts) == 3


def test_retry_delay_backs_off_exponentially_up_to_six_hours():
    assert [outbox.retry_delay(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert outbox.retry_delay(9) == timedelta(minutes=256)
    assert outbox.retry_delay(10) == outbox.retry_delay(30) == timedelta(hours=6)


def test_a_failed_delivery_is_recorded_and_retried_when_due(app, frozen_clock):
    (message_id,) = queue("slow@example.cn")
    transport = Transport(fail_first=2)
    start = frozen_clock.now

    assert outbox.send_due(deliver=transport) == {"sent": 0, "retry": 1, "failed": 0}
    message = stored(message_id)
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error == "ConnectionRefusedError: SMTP server refused slow@example.cn"
    assert message.next_attempt_at == start + outbox.retry_delay(1)

    # Not due yet: nothing is tried.
    frozen_clock.move(seconds=59)
    assert outbox.send_due(deliver=transport) == {"sent": 0, "retry": 0, "failed": 0}
    assert transport.attempts == [message_id]

    frozen_clock.move(seconds=1)
    assert outbox.send_due(deliver=transport) == {"sent": 0, "retry": 1, "failed": 0}
    message = stored(message_id)
    assert message.attempts == 2
    assert message.next_attempt_at == frozen_clock.now + outbox.retry_delay(2)

    frozen_clock.move(minutes=2)
    assert outbox.send_due(deliver=transport) == {"sent": 1, "retry": 0, "failed": 0}
    message = stored(message_id)
    assert (message.status, message.attempts, message.sent_at) == ("sent", 3, frozen_clock.now)
    assert message.last_error.startswith("ConnectionRefusedError")  # the failure record stays
    assert transport.attempts == [message_id] * 3 and len(transport.delivered) == 1


def test_a_message_is_failed_after_mail_max_attempts_and_never_tried_again(app, frozen_clock):
    app.config["MAIL_MAX_ATTEMPTS"] = 3
    (message_id,) = queue("gone@example.cn")
    transport = Transport(fail_for=("gone@example.cn",))
    outcomes = []
    for _ in range(3):
        outcomes.append(outbox.send_due(deliver=transport))
        frozen_clock.move(hours=6)
    assert outcomes == [{"sent": 0, "retry": 1, "failed": 0}, {"sent": 0, "retry": 1, "failed": 0},
                        {"sent": 0, "retry": 0, "failed": 1}]
    message = stored(message_id)
    assert (message.status, message.attempts, message.sent_at) == ("failed", 3, None)
    assert "refused gone@example.cn" in message.last_error
    frozen_clock.move(days=30)
    assert outbox.send_due(deliver=transport) == {"sent": 0, "retry": 0, "failed": 0}
    assert len(transport.attempts) == 3


def test_one_failing_message_does_not_hold_back_the_others(app, frozen_clock):
    bad, good1, good2 = queue("bad@example.cn", "good1@example.cn", "good2@example.cn")
    transport = Transport(fail_for=("bad@example.cn",))
    assert outbox.send_due(deliver=transport) == {"sent": 2, "retry": 1, "failed": 0}
    assert [d[0] for d in transport.delivered] == [good1, good2]
    assert [stored(i).status for i in (bad, good1, good2)] == ["pending", "sent", "sent"]


def test_without_a_mail_server_development_mail_goes_to_the_log(app, caplog):
    app.config["MAIL_SERVER"] = ""
    (message_id,) = queue("dev@example.cn")
    with caplog.at_level("INFO", logger="instrument_share.mail.outbox"):
        assert outbox.send_due() == {"sent": 1, "retry": 0, "failed": 0}
    assert "dev@example.cn" in caplog.text and "/password/reset/abc" in caplog.text
    assert stored(message_id).status == "sent"


@pytest.mark.slow
def test_two_sender_processes_deliver_every_message_exactly_once(app, database_url, tmp_path):
    ids = queue(*(f"user{i}@example.cn" for i in range(40)))
    log_path = tmp_path / "delivered.log"
    start, results = PROCESSES.Barrier(2), PROCESSES.Queue()  # all begin together, once every one is ready
    procs = [PROCESSES.Process(target=outbox_sender, args=(database_url, tmp_path, str(log_path), start, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    try:
        reports = [results.get(timeout=180) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert [err for _counts, err in reports if err] == []
    delivered = [int(line) for line in log_path.read_text().split()]
    assert sorted(delivered) == ids  # every message once, none twice
    assert sum(counts["sent"] for counts, _err in reports) == len(ids)
    db.session.rollback()
    assert set(db.session.scalars(select(OutboxMessage.status))) == {"sent"}


# ---- a real SMTP conversation -----------------------------------------------------------------------------


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 for smtplib: greet, accept one or more messages, record them."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 localhost test SMTP")
        envelope = {"rcpt": []}
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 localhost")
            elif verb == "MAIL":
                envelope = {"from": command[10:].strip("<>"), "rcpt": []}
                self.reply("250 OK")
            elif verb == "RCPT":
                envelope["rcpt"].append(command[8:].strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with .")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                self.server.received.append(envelope | {"message": message_from_bytes(data)})
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_send_due_talks_smtp_to_the_configured_server(app, smtp_server):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.server_address[1], MAIL_USE_TLS=False,
                      MAIL_USE_SSL=False, MAIL_USERNAME="", MAIL_SENDER="noreply@instrument-share.example")
    with db.transaction():
        message_id = outbox.enqueue("lab@example.cn", "重置密码", "reset_password", user=None,
                                    link="http://localhost/password/reset/abc").id
    assert outbox.send_due() == {"sent": 1, "retry": 0, "failed": 0}
    (received,) = smtp_server.received
    assert received["from"] == "noreply@instrument-share.example"
    assert received["rcpt"] == ["lab@example.cn"]
    assert str(make_header(decode_header(received["message"]["Subject"]))) == "重置密码"
    assert "/password/reset/abc" in received["message"].get_payload(decode=True).decode()
    assert stored(message_id).status == "sent"


def test_an_unreachable_smtp_server_is_a_recorded_failure(app, smtp_server, frozen_clock):
    port = smtp_server.server_address[1]
    smtp_server.shutdown()
    smtp_server.server_close()  # nothing listens on the port any more
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False, MAIL_USE_SSL=False)
    (message_id,) = queue("later@example.cn")
    assert outbox.send_due() == {"sent": 0, "retry": 1, "failed": 0}
    message = stored(message_id)
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error.startswith("ConnectionRefusedError")
    assert message.next_attempt_at == frozen_clock.now + timedelta(minutes=1)
