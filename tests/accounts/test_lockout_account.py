"""The account-wide lock (a guess spread over many addresses) and what a refused sign-in tells the caller.

Only at LOCKOUT_ACCOUNT_THRESHOLD failures within the window (default 50) does the whole account lock; its owner and
every security administrator are told by mail. An unknown account, a wrong password or code and a locked one (pair or
account) answer exactly alike, on the sign-in page and in the API (docs/api.md v1.1: 401 invalid_credentials), and take
the same work (one password hash); the audit log keeps the real reason.
"""

import json
import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from instrument_share.accounts import secrets
from instrument_share.accounts.models import User
from instrument_share.accounts.roles import Role
from instrument_share.audit.models import AuditEntry
from instrument_share.db import db

from ..factories import PASSWORD, login

WRONG = "not the password at all"


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def token_request(client, username: str, password: str, address: str, **body):
    return client.post("/api/v1/tokens", json={"name": "ci"} | body, auth=(username, password),
                       **from_address(address))


def flash_of(response) -> str:
    match = re.search(r'<div class="flash flash-error"[^>]*>(.*?)</div>', response.get_data(as_text=True), re.S)
    assert match, response.get_data(as_text=True)
    return match.group(1).strip()


def reasons(action: str) -> list[str]:
    db.session.rollback()
    return [json.loads(d)["reason"] for d in db.session.scalars(
        select(AuditEntry.details).where(AuditEntry.action == action).order_by(AuditEntry.seq))]


def wrong_code(secret: str, at) -> str:
    totp = pyotp.TOTP(secret)
    step = int(at.timestamp()) // 30
    valid = {totp.generate_otp(s) for s in (step - 1, step, step + 1)}
    return next(c for c in ("000000", "111111", "123456", "999999") if c not in valid)


def test_the_defaults(app):
    assert (app.config["LOCKOUT_THRESHOLD"], app.config["LOCKOUT_ACCOUNT_THRESHOLD"]) == (5, 50)


def test_the_account_wide_threshold_locks_everywhere_and_tells_the_owner_and_security_admins(app, client, factory,
                                                                                           frozen_clock):
    app.config["LOCKOUT_ACCOUNT_THRESHOLD"] = 12  # instead of 50: three addresses with four failures each
    commission = factory.org("commission")
    owner = factory.user(roles=(Role.sme_user,))
    security = factory.user(commission, (Role.security_admin,), totp=True)
    without_mail = factory.user(commission, (Role.security_admin,), totp=True)
    disabled = factory.user(commission, (Role.security_admin,), totp=True)
    factory.user(commission, (Role.system_admin,), totp=True)  # not a security administrator: not told
    with db.transaction():
        db.session.get(User, without_mail.id).email = None
        db.session.get(User, disabled.id).is_disabled = True

    addresses = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
    for address in addresses:
        for _ in range(4):  # one short of the pair threshold
            assert token_request(client, owner.username, WRONG, address).status_code == 401
    db.session.rollback()
    assert db.session.get(User, owner.id).locked_until == frozen_clock.now + timedelta(minutes=30)

    # Locked everywhere: the right password from a fresh address, by API and by form, answers like a wrong one.
    fresh = "198.51.100.9"
    assert token_request(client, owner.username, PASSWORD, fresh).status_code == 401
    assert login(app.test_client(), owner.username, PASSWORD, **from_address(fresh)).status_code == 200

    recipients = sorted(m.recipient for m in factory.outbox())
    assert recipients == sorted([owner.email, security.email])
    (to_owner,) = factory.outbox(owner.email)
    assert "锁定" in to_owner.subject and owner.username in to_owner.subject
    assert "您的账号" in to_owner.body and "重置" in to_owner.body
    (to_security,) = factory.outbox(security.email)
    assert owner.username in to_security.body and "审计日志" in to_security.body

    db.session.rollback()
    (locked,) = db.session.scalars(select(AuditEntry.details).where(AuditEntry.action == "account.locked")).all()
    assert json.loads(locked) | {"until": None} == {"until": None, "failures": 12, "notified": 2}
    assert reasons("login.refused") == ["locked_account", "locked_account"]

    frozen_clock.move(minutes=30, seconds=1)  # the lock ends: the right password works again
    assert token_request(client, owner.username, PASSWORD, fresh).status_code == 201


def test_the_account_lock_mail_is_written_in_the_recipients_language(app, client, factory):
    app.config["LOCKOUT_ACCOUNT_THRESHOLD"] = 3
    owner = factory.user(roles=(Role.sme_user,))
    with db.transaction():
        db.session.get(User, owner.id).locale = "en"
    for address in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        token_request(client, owner.username, WRONG, address)
    (mail,) = factory.outbox(owner.email)
    assert "locked" in mail.subject and "reset it now" in mail.body


@pytest.fixture
def every_refusal(app, factory, frozen_clock):
    """One attempt of each kind that must look the same to the caller, by name: (username, password, totp)."""
    plain = factory.user(roles=(Role.sme_user,))
    two_factor = factory.user(roles=(Role.sme_user,), totp=True)
    pair_locked = factory.user(roles=(Role.sme_user,))
    account_locked = factory.user(roles=(Role.sme_user,))
    client = app.test_client()
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        token_request(client, pair_locked.username, WRONG, "127.0.0.1")
    with db.transaction():
        db.session.get(User, account_locked.id).locked_until = frozen_clock.now + timedelta(minutes=30)
    return {
        "unknown_user": ("nobody-here", PASSWORD, None),
        "bad_password": (plain.username, WRONG, None),
        "bad_totp": (two_factor.username, PASSWORD, wrong_code(two_factor.totp_secret, frozen_clock.now)),
        "locked_pair": (pair_locked.username, PASSWORD, None),  # the right password
        "locked_account": (account_locked.username, PASSWORD, None),
    }


def test_unknown_wrong_and_locked_answer_identically_in_the_api(app, every_refusal):
    answers = {}
    for kind, (username, password, code) in every_refusal.items():
        body = {"totp": code} if code else {}
        response = token_request(app.test_client(), username, password, "127.0.0.1", **body)
        answers[kind] = (response.status_code, response.get_data(as_text=True), response.mimetype)
    assert len(set(answers.values())) == 1, answers
    status, body, _mimetype = answers["locked_account"]
    assert status == 401 and json.loads(body)["error"] == "invalid_credentials"
    assert reasons("login.failure")[-3:] == ["unknown_user", "bad_password", "bad_totp"]
    assert set(reasons("login.failure")) | set(reasons("login.refused")) == {
        "unknown_user", "bad_password", "bad_totp", "locked_pair", "locked_account"}


def test_unknown_wrong_and_locked_show_the_same_message_on_the_sign_in_page(app, every_refusal):
    messages = {}
    for kind, (username, password, code) in every_refusal.items():
        browser = app.test_client()
        response = login(browser, username, password)
        if code:  # the right password of a two-factor account leads to the code step
            assert response.location == "/login/totp"
            page = browser.get("/login/totp")
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True))
            response = browser.post("/login/totp", data={"code": code, "csrf_token": token.group(1)})
        messages[kind] = (response.status_code, flash_of(response))
    assert len(set(messages.values())) == 1, messages
    assert messages["locked_pair"][0] == 200
    assert set(reasons("login.refused")) == {"locked_pair", "locked_account"}


def test_unknown_and_locked_attempts_run_the_password_hash_like_a_wrong_one(app, every_refusal, monkeypatch):
    """The time of an answer must not tell a locked or unknown account from a wrong password."""
    calls = []
    real = secrets.check_password_hash
    monkeypatch.setattr(secrets, "check_password_hash", lambda *args: calls.append(args) or real(*args))
    for kind in ("unknown_user", "bad_password", "locked_pair", "locked_account"):
        username, password, _code = every_refusal[kind]
        calls.clear()
        token_request(app.test_client(), username, password, "127.0.0.1")
        assert len(calls) == 1, kind
