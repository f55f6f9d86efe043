"""Issue 13 (7): a payment never exceeds what is owed on the service record (409 payment_exceeds_owed, API and page),
not even two concurrent payments that each fit; and no ledger amount can overflow the database's integers."""

import re
import threading

import pytest

from instrument_share.core.errors import DomainError
from instrument_share.db import db
from instrument_share.ledger import entries
from instrument_share.ledger.models import ServiceRecord

from .._pages import sign_in, text
from ..booking_support import DAY0, api, at, expect
from ..catalogue_support import publish_civilian
from ..factories import csrf_from, english
from ..ledger_support import append, entry_count, make_ledger, standalone, sums_from_table

CHARGE = 180_000  # 216 minutes at 500 yuan an hour
TOO_MUCH = 2_147_483_648  # the payment of the report: 2^31 fen


@pytest.fixture
def lg(frozen_clock, factory):
    return make_ledger(factory)


def pay(client, lg, record_id: int, amount, **extra):
    body = {"service_record_id": record_id, "kind": "payment", "amount_fen": amount, "entry_date": DAY0.isoformat()}
    return api(client, "POST", "/revenue-entries", lg.headers["op1"], body | extra)


def revenue(client, lg) -> int:
    return expect(api(client, "GET", f"/statistics?unit_id={lg.unit.org.id}&year=2026", lg.headers["op1"]),
                  200)["revenue_fen"]


def test_a_payment_above_what_is_owed_is_refused_and_changes_nothing(client, lg):
    record = standalone(lg, minutes=216)
    assert record.fee_fen == CHARGE
    before = entry_count()
    refused = expect(pay(client, lg, record.id, TOO_MUCH), 409, "payment_exceeds_owed")
    assert refused["owed_fen"] == CHARGE and "¥1,800.00" in refused["fields"]["amount_fen"]
    assert "¥1,800.00" in refused["message"] and "¥21,474,836.48" in refused["message"]
    assert entry_count() == before and revenue(client, lg) == 0
    refund = api(client, "POST", "/revenue-entries", lg.headers["op1"], {
        "service_record_id": record.id, "kind": "refund", "amount_fen": 1, "entry_date": DAY0.isoformat(),
        "reason": "x"})
    expect(refund, 409, "refund_exceeds_payments")  # nothing was paid, so nothing can be refunded

    expect(pay(client, lg, record.id, CHARGE - 1), 201)
    assert expect(pay(client, lg, record.id, 2), 409, "payment_exceeds_owed")["owed_fen"] == 1
    expect(pay(client, lg, record.id, 1), 201)
    assert expect(pay(client, lg, record.id, 1), 409, "payment_exceeds_owed")["owed_fen"] == 0
    assert revenue(client, lg) == CHARGE and sums_from_table(record.id)["owed"] == 0


def test_what_is_owed_counts_every_kind_of_entry(lg):
    record = standalone(lg, minutes=216)
    append(lg, record, "charge", 20_000)  # a further charge
    append(lg, record, "adjustment", 5_000, direction="debit", reason="extra sample preparation")
    append(lg, record, "adjustment", 15_000, direction="credit", reason="goodwill")
    append(lg, record, "payment", 190_000)  # 180,000 + 20,000 + 5,000 − 15,000
    append(lg, record, "refund", 7_000, reason="partly not done")  # owed again
    with pytest.raises(DomainError) as refused:
        append(lg, record, "payment", 7_001)
    assert (refused.value.code, refused.value.extra["owed_fen"]) == ("payment_exceeds_owed", 7_000)
    append(lg, record, "payment", 7_000)
    append(lg, record, "adjustment", 1_000, direction="credit", reason="late")  # overpaid now: owed −1,000
    with pytest.raises(DomainError) as refused:
        append(lg, record, "payment", 1)
    assert refused.value.extra["owed_fen"] == 0
    assert entries.balance(record.id).owed_fen == -1_000


def test_the_page_names_the_owed_amount_next_to_the_amount(client, factory, lg):
    record = standalone(lg, minutes=216)
    sign_in(client, factory, lg.op1)
    english(client)
    page = f"/service-records/{record.id}"
    token = csrf_from(text(client.get(page)))
    response = client.post(f"{page}/entries", data={
        "entry-csrf_token": token, "entry-kind": "payment", "entry-amount": "21474836.48",
        "entry-entry_date": DAY0.isoformat(), "entry-direction": ""})
    assert response.status_code == 409
    error = re.search(r'<span class="field-error" id="entry-amount-error">([^<]*)</span>', text(response))
    assert error and "¥1,800.00" in error.group(1)
    assert entries.balance(record.id).paid_fen == 0


def _pay_in_thread(app, record_id: int, operator_id: int, amount: int, barrier, outcomes: list, index: int):
    from instrument_share.accounts.models import User

    with app.app_context():
        try:
            barrier.wait(timeout=60)
            with db.transaction():
                entries.append_entry(actor=db.session.get(User, operator_id),
                                     record=db.session.get(ServiceRecord, record_id), kind="payment",
                                     amount_fen=amount, entry_date=DAY0)
            outcomes[index] = "paid"
        except DomainError as exc:
            outcomes[index] = exc.code
        except Exception as exc:  # reported, so the assertion shows what went wrong
            outcomes[index] = f"error: {exc!r}"
        finally:
            db.session.remove()


def test_two_concurrent_payments_that_together_exceed_what_is_owed(app, lg):
    """Each fits (100,000 of 180,000 owed), together they do not: the record's lock lets exactly one through."""
    record = standalone(lg, minutes=216)
    barrier, outcomes = threading.Barrier(2), ["", ""]
    db.session.remove()
    threads = [threading.Thread(target=_pay_in_thread, args=(app, record.id, lg.op1.id, 100_000, barrier, outcomes, i))
               for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert sorted(outcomes) == ["paid", "payment_exceeds_owed"], outcomes
    assert sums_from_table(record.id)["payment"] == 100_000


def test_amounts_cannot_overflow_the_database(client, factory, lg):
    record = standalone(lg)
    for amount in (2**63, 10**13 + 1, -(2**63), 0):
        body = expect(pay(client, lg, record.id, amount), 422, "validation_failed")
        assert "amount_fen" in body["fields"]
    assert "¥100,000,000,000.00" in expect(pay(client, lg, record.id, 10**13 + 1), 422)["fields"]["amount_fen"]
    # The highest fee standard the catalogue takes, times the most samples a record takes: beyond BIGINT.
    costly = publish_civilian(lg.unit, service_modes=["sample_testing"], fee_per_sample_fen=10**15)
    body = {"instrument_id": costly.id, "organization_id": lg.unit.org.id, "mode": "sample_testing",
            "actual_start": at(-1, "09:00").isoformat(), "actual_end": at(-1, "10:00").isoformat(),
            "samples": 1_000_000}
    refused = expect(api(client, "POST", "/service-records", lg.headers["op1"], body), 422, "validation_failed")
    assert "samples" in refused["fields"]
    dear = publish_civilian(lg.unit, service_modes=["sample_testing"], fee_per_sample_fen=10**9)
    at_the_bound = body | {"instrument_id": dear.id, "samples": 10_000}  # 10^13 fen: the largest amount
    assert expect(api(client, "POST", "/service-records", lg.headers["op1"], at_the_bound), 201)["fee_fen"] == 10**13
    expect(api(client, "POST", "/service-records", lg.headers["op1"], at_the_bound | {"samples": 10_001}), 422)
