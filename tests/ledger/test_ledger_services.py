"""Service records and the append-only revenue ledger through the services, on the real database (issue 5 items 1–3).

The database itself refuses changing or deleting ledger entries; fees follow the published standard, rounded half
up once; a booking is recorded only in progress (or confirmed, for sample orders); refunds never exceed payments;
large adjustments wait for a second operator; every balance equals the sum of its entries; every decision is in the
audit chain and every appended entry is announced on the ledger signal.
"""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from instrument_share.audit.chain import verify
from instrument_share.bookings.models import Booking
from instrument_share.core.errors import Conflict, InvalidState, PermissionDenied, ValidationFailed
from instrument_share.db import db
from instrument_share.ledger import disputes, entries, ratings, service_records
from instrument_share.ledger.models import AdjustmentRequest, RevenueEntry, ServiceRecord
from instrument_share.ledger.signals import entry_appended

from ..booking_support import DAY0, at
from ..catalogue_support import civilian_unit
from ..ledger_support import (
    PER_SAMPLE,
    append,
    audit_of,
    booking_in_progress,
    entry_count,
    make_ledger,
    sample_order,
    standalone,
    sums_from_table,
)


@pytest.fixture
def lg(frozen_clock, factory):
    ledger = make_ledger(factory)
    ledger.headers["clock"] = frozen_clock
    return ledger


# ------------------------------------------------------------------------------------------------ append-only


@pytest.mark.parametrize("statement", ["UPDATE revenue_entries SET amount_fen = amount_fen + 1",
                                       "UPDATE revenue_entries SET reason = 'changed'",
                                       "DELETE FROM revenue_entries"])
def test_the_database_refuses_to_change_or_delete_ledger_entries(lg, statement):
    record = standalone(lg)
    append(lg, record, "payment", 30_000)
    before = sums_from_table(record.id)
    with pytest.raises(DBAPIError) as caught, db.transaction():
        db.session.execute(text(statement))
    assert "append-only" in str(caught.value)
    assert sums_from_table(record.id) == before and entry_count() == 2


def test_the_orm_cannot_change_an_entry_either(lg):
    record = standalone(lg)
    with pytest.raises(DBAPIError), db.transaction():
        entry = db.session.scalars(select(RevenueEntry)).one()
        entry.amount_fen = 1
    db.session.rollback()
    assert db.session.scalars(select(RevenueEntry.amount_fen)).one() == record.fee_fen == 75_000


# ------------------------------------------------------------------------------------------------ fees


@pytest.mark.parametrize(("per_hour", "minutes", "fee"), [
    (50_000, 90, 75_000), (1, 30, 1), (1, 29, 0), (3, 10, 1), (10_001, 3, 500), (10, 3, 1), (7, 90, 11),
    (33_333, 1, 556), (0, 600, 0)])
def test_time_fees_are_rounded_half_up_to_the_fen_once(per_hour, minutes, fee):
    instrument = SimpleNamespace(fee_per_hour_fen=per_hour, fee_per_sample_fen=None)
    for mode in ("machine_time", "experiment"):
        got, basis = service_records.fee_for(instrument, mode, minutes, None)
        assert got == fee
        assert f"× {minutes}分钟" in basis and "四舍五入" in basis


def test_sample_fees_are_per_sample():
    instrument = SimpleNamespace(fee_per_hour_fen=None, fee_per_sample_fen=PER_SAMPLE)
    for mode in ("sample_testing", "statutory_testing"):
        assert service_records.fee_for(instrument, mode, 45, 3) == (60_000, "¥200.00/样 × 3样 = ¥600.00")


def test_a_standalone_record_charges_its_fee_and_knows_its_local_day(lg):
    start = at(-1, "07:30")  # 2026-11-30 07:30 in Nanjing is still 11-29 in UTC
    with db.transaction():
        record = service_records.record_standalone(
            actor=lg.op1, instrument=db.session.merge(lg.instrument), organization=db.session.merge(lg.alice.org),
            mode="machine_time", actual_start=start, actual_end=start + timedelta(minutes=45))
    assert (record.effective_minutes, record.fee_fen, record.external) == (45, 37_500, True)
    assert record.start_local_date == DAY0 - timedelta(days=1) != record.actual_start.date()
    assert record.fee_basis.startswith("¥500.00/小时 × 45分钟")
    assert sums_from_table(record.id)["charge"] == 37_500 and entries.charge_entry_id(record.id) is not None


def test_the_units_own_use_is_not_external_and_a_free_service_appends_nothing(factory, frozen_clock):
    lg = make_ledger(factory, fee_per_hour_fen=0)
    record = standalone(lg, lg.unit.org)
    assert (record.external, record.fee_fen) == (False, 0)
    assert entry_count() == 0 and entries.charge_entry_id(record.id) is None


def test_standalone_values_are_checked(lg):
    def make(**changes):
        values = {"actor": lg.op1, "instrument": db.session.merge(lg.instrument),
                  "organization": db.session.merge(lg.alice.org), "mode": "machine_time",
                  "actual_start": at(-1, "09:00"), "actual_end": at(-1, "10:00")} | changes
        with db.transaction():
            return service_records.record_standalone(**values)

    for changes, field in [({"actual_end": at(-1, "08:00")}, "actual_end"), ({"actual_end": at(2, "08:00")},
                           "actual_end"), ({"mode": "teleport"}, "mode"),
                           ({"mode": "sample_testing", "samples": 0}, "samples"),
                           ({"mode": "sample_testing"}, "samples"), ({"samples": -1}, "samples"),
                           ({"actual_start": at(-1, "09:00").replace(tzinfo=None)}, "actual_start")]:
        with pytest.raises(ValidationFailed) as caught:
            make(**changes)
        assert field in caught.value.fields, changes
    with pytest.raises(PermissionDenied):
        make(actor=lg.alice.user)
    other = civilian_unit(factory=lg.factory)
    with pytest.raises(PermissionDenied):
        make(actor=other.operator)
    assert db.session.scalars(select(ServiceRecord)).all() == []


# ------------------------------------------------------------------------------------------------ from bookings


def _record(lg, booking_id, **values):
    with db.transaction():
        booking = db.session.get(Booking, booking_id)
        return service_records.record_from_booking(actor=db.session.merge(values.pop("actor", lg.op1)),
                                                   booking=booking, **values)


def test_a_booking_in_progress_is_recorded_completed_and_charged(client, lg):
    booking_id = booking_in_progress(client, lg, lg.headers["clock"])
    record = _record(lg, booking_id, actual_start=at(1, "10:05"), actual_end=at(1, "11:40"),
                     result_delivered_on=DAY0 + timedelta(days=1))
    db.session.rollback()
    assert db.session.get(Booking, booking_id).status == "completed"
    assert (record.booking_id, record.effective_minutes, record.fee_fen, record.mode) == (
        booking_id, 95, 79_167, "machine_time")  # 50000 × 95 / 60 = 79166.67
    assert sums_from_table(record.id)["charge"] == 79_167
    assert audit_of("service_record", record.id) == ["service_record.created"]
    assert audit_of("booking", booking_id)[-1] == "booking.completed"
    with pytest.raises(InvalidState):  # once only
        _record(lg, booking_id, actual_start=at(1, "10:05"), actual_end=at(1, "11:40"))


def test_only_bookings_in_progress_or_confirmed_sample_orders_are_recorded(client, lg):
    from ..booking_support import book, expect, iso

    pending = expect(book(client, lg.alice.headers, lg.instrument.id, iso(2, "10:00"), iso(2, "11:00")), 201)["id"]
    with pytest.raises(InvalidState):
        _record(lg, pending, actual_start=at(-1, "10:00"), actual_end=at(-1, "11:00"))
    unconfirmed = sample_order(client, lg, confirm=False)
    with pytest.raises(InvalidState):
        _record(lg, unconfirmed, actual_start=at(-1, "10:00"), actual_end=at(-1, "11:00"))
    order = sample_order(client, lg, samples=4, mode="statutory_testing")
    record = _record(lg, order, actual_start=at(-1, "10:00"), actual_end=at(-1, "10:30"))
    assert (record.samples, record.fee_fen, record.mode) == (4, 4 * PER_SAMPLE, "statutory_testing")
    with pytest.raises(PermissionDenied):
        _record(lg, pending, actor=lg.alice.user, actual_start=at(-1, "10:00"), actual_end=at(-1, "11:00"))
    assert db.session.get(Booking, pending).status == "pending"


def test_a_confirmed_time_booking_is_not_recorded_before_the_user_arrives(client, lg):
    from ..booking_support import book, expect, iso

    booking_id = expect(book(client, lg.alice.headers, lg.instrument.id, iso(1, "10:00"), iso(1, "11:00")), 201)["id"]
    from instrument_share.bookings import service as bookings

    with db.transaction():
        bookings.confirm(actor=db.session.merge(lg.op1), booking=db.session.get(Booking, booking_id))
    with pytest.raises(InvalidState):
        _record(lg, booking_id, actual_start=at(-1, "10:00"), actual_end=at(-1, "11:00"))


# ------------------------------------------------------------------------------------------------ ledger rules


def test_refunds_never_exceed_the_payments_received(lg):
    record = standalone(lg)
    with pytest.raises(Conflict) as caught:
        append(lg, record, "refund", 1)
    assert caught.value.code == "refund_exceeds_payments" and "amount_fen" in caught.value.fields
    append(lg, record, "payment", 50_000)
    append(lg, record, "refund", 20_000)
    with pytest.raises(Conflict):
        append(lg, record, "refund", 30_001)
    append(lg, record, "refund", 30_000)
    totals = sums_from_table(record.id)
    assert (totals["payment"], totals["refund"], totals["owed"]) == (50_000, 50_000, 75_000)
    assert entries.balance(record.id).owed_fen == 75_000


def test_amounts_kinds_directions_and_dates_are_checked(lg):
    record = standalone(lg)
    cases = [({"kind": "payment", "amount": 0}, "amount_fen"), ({"kind": "payment", "amount": -5}, "amount_fen"),
             ({"kind": "payment", "amount": True}, "amount_fen"), ({"kind": "gift", "amount": 5}, "kind"),
             ({"kind": "adjustment", "amount": 5, "reason": "x"}, "direction"),
             ({"kind": "payment", "amount": 5, "direction": "credit"}, "direction"),
             ({"kind": "adjustment", "amount": 5, "direction": "credit"}, "reason"),
             ({"kind": "payment", "amount": 5, "day": DAY0 + timedelta(days=1)}, "entry_date"),
             ({"kind": "payment", "amount": 5, "corrects_id": 999_999, "reason": "x"}, "corrects_id")]
    for values, field in cases:
        values = dict(values)
        with pytest.raises(ValidationFailed) as caught:
            append(lg, record, values.pop("kind"), values.pop("amount"), **values)
        assert field in caught.value.fields, values
    with pytest.raises(PermissionDenied):
        append(lg, record, "payment", 5, actor=lg.alice.user)
    assert entry_count() == 1


def test_invoice_numbers_are_unique_per_provider(lg):
    record = standalone(lg)
    append(lg, record, "payment", 10_000, invoice_no="INV-001")
    with pytest.raises(Conflict) as caught:
        append(lg, record, "payment", 10_000, invoice_no=" INV-001 ")
    assert caught.value.code == "duplicate_invoice_no" and "invoice_no" in caught.value.fields
    other = make_ledger(lg.factory)
    append(other, standalone(other), "payment", 10_000, invoice_no="INV-001")  # another provider may use it


def test_a_correction_is_a_new_entry_with_a_reason(lg):
    record = standalone(lg)
    wrong = append(lg, record, "payment", 70_000)
    correction = append(lg, record, "refund", 5_000, corrects_id=wrong.id, reason="typed 700 instead of 650")
    assert correction.corrects_id == wrong.id
    assert entries.balance(record.id).paid_fen == 70_000 and entries.balance(record.id).owed_fen == 10_000


def test_a_large_adjustment_waits_for_a_second_operator(lg):
    record = standalone(lg)
    before, count = entries.balance(record.id), entry_count()
    request = append(lg, record, "adjustment", 100_001, direction="credit", reason="goodwill")
    assert isinstance(request, AdjustmentRequest) and request.status == "pending_approval"
    assert entry_count() == count and entries.balance(record.id) == before
    with pytest.raises(Conflict) as caught, db.transaction():
        entries.approve_adjustment(actor=db.session.merge(lg.op1), request=db.session.merge(request))
    assert caught.value.code == "second_operator_required"
    with pytest.raises(PermissionDenied), db.transaction():
        entries.approve_adjustment(actor=db.session.merge(lg.alice.user), request=db.session.merge(request))
    assert entry_count() == count and db.session.get(AdjustmentRequest, request.id).status == "pending_approval"
    with db.transaction():
        entries.approve_adjustment(actor=db.session.merge(lg.op2), request=db.session.merge(request))
    balance = entries.balance(record.id)
    assert (balance.credit_fen, balance.owed_fen) == (100_001, 75_000 - 100_001)
    approved = entries.entry_of_request(db.session.get(AdjustmentRequest, request.id))
    assert (approved.entered_by_id, approved.direction, approved.reason) == (lg.op2.id, "credit", "goodwill")
    with pytest.raises(InvalidState), db.transaction():
        entries.approve_adjustment(actor=db.session.merge(lg.op2), request=db.session.merge(request))
    assert audit_of("adjustment_request", request.id) == ["revenue.adjustment_requested",
                                                          "revenue.adjustment_approved"]


def test_an_adjustment_at_the_threshold_goes_straight_in_and_a_rejected_request_changes_nothing(lg):
    record = standalone(lg)
    entry = append(lg, record, "adjustment", 100_000, direction="debit", reason="extra consumables")
    assert isinstance(entry, RevenueEntry) and entries.balance(record.id).debit_fen == 100_000
    request = append(lg, record, "adjustment", 200_000, direction="debit", reason="more")
    with pytest.raises(ValidationFailed), db.transaction():
        entries.reject_adjustment(actor=db.session.merge(lg.op2), request=db.session.merge(request), reason=" ")
    with db.transaction():
        entries.reject_adjustment(actor=db.session.merge(lg.op2), request=db.session.merge(request), reason="no")
    assert entries.balance(record.id).debit_fen == 100_000 and entry_count() == 2


def test_the_threshold_is_a_setting(lg, app):
    app.config["ADJUSTMENT_APPROVAL_THRESHOLD_FEN"] = 10
    record = standalone(lg)
    assert isinstance(append(lg, record, "adjustment", 11, direction="debit", reason="r"), AdjustmentRequest)


def test_balances_of_units_and_organisations_equal_the_sum_of_their_entries(lg):
    records = [standalone(lg), standalone(lg, minutes=37), standalone(lg, lg.bob.org, minutes=61),
               standalone(lg, lg.unit.org, minutes=13)]
    append(lg, records[0], "payment", 60_000)
    append(lg, records[0], "refund", 7_001)
    append(lg, records[1], "adjustment", 999, direction="credit", reason="late")
    append(lg, records[2], "adjustment", 3, direction="debit", reason="rounding")
    append(lg, records[2], "payment", 50_834)  # fits only with the debit: a payment never exceeds what is owed
    other = make_ledger(lg.factory)
    append(other, standalone(other), "payment", 123)
    for record in records:
        totals = sums_from_table(record.id)
        b = entries.balance(record.id)
        assert (b.charged_fen, b.debit_fen, b.credit_fen, b.paid_fen, b.refunded_fen, b.owed_fen) == (
            totals["charge"], totals["debit"], totals["credit"], totals["payment"], totals["refund"], totals["owed"])
    unit_totals = sums_from_table(unit_id=lg.unit.org.id)
    assert entries.unit_balance(lg.unit.org.id).owed_fen == unit_totals["owed"]
    assert entries.unit_balance(lg.unit.org.id).owed_fen == sum(entries.balance(r.id).owed_fen for r in records)
    alice = sums_from_table(organization_id=lg.alice.org.id)
    assert entries.organization_balance(lg.alice.org.id).as_json() == {
        "charged_fen": alice["charge"], "debit_fen": alice["debit"], "credit_fen": alice["credit"],
        "paid_fen": alice["payment"], "refunded_fen": alice["refund"], "owed_fen": alice["owed"]}
    assert entries.organization_balance(lg.bob.org.id, unit_id=lg.unit.org.id).owed_fen == \
        records[2].fee_fen + 3 - 50_834
    assert entries.record_balances([r.id for r in records])[records[0].id] == entries.balance(records[0].id)


def test_every_entry_is_audited_and_announced(lg):
    seen = []

    def listener(entry):
        assert entry.id is not None
        seen.append((entry.kind, entry.amount_fen))

    entry_appended.connect(listener)
    try:
        record = standalone(lg)
        payment = append(lg, record, "payment", 1_000)
        request = append(lg, record, "adjustment", 500_000, direction="credit", reason="r")
        with db.transaction():
            entries.approve_adjustment(actor=db.session.merge(lg.op2), request=db.session.merge(request))
    finally:
        entry_appended.disconnect(listener)
    assert seen == [("charge", 75_000), ("payment", 1_000), ("adjustment", 500_000)]
    assert audit_of("revenue_entry", payment.id) == ["revenue.entry_appended"]
    assert verify().ok


# ------------------------------------------------------------------------------------------------ ratings, disputes


def test_the_user_organisation_rates_a_service_once(lg):
    record = standalone(lg)
    with pytest.raises(PermissionDenied), db.transaction():
        ratings.rate(actor=db.session.merge(lg.bob.user), record=db.session.merge(record), score=5, comment="")
    with pytest.raises(ValidationFailed), db.transaction():
        ratings.rate(actor=db.session.merge(lg.alice.user), record=db.session.merge(record), score=6, comment="")
    with db.transaction():
        ratings.rate(actor=db.session.merge(lg.alice.user), record=db.session.merge(record), score=4, comment="ok")
    with pytest.raises(Conflict), db.transaction():
        ratings.rate(actor=db.session.merge(lg.alice.user), record=db.session.merge(record), score=1, comment="")
    second = standalone(lg, lg.bob.org)
    with db.transaction():
        ratings.rate(actor=db.session.merge(lg.bob.user), record=db.session.merge(second), score=3, comment="")
    own = standalone(lg, lg.unit.org)
    with pytest.raises(PermissionDenied), db.transaction():
        ratings.rate(actor=db.session.merge(lg.op1), record=db.session.merge(own), score=5, comment="")
    summary = ratings.instrument_rating(lg.instrument.id)
    assert (summary.count, str(summary.average)) == (2, "3.50")
    assert ratings.unit_rating(lg.unit.org.id) == summary and ratings.unit_rating(lg.bob.org.id).average is None
    assert audit_of("service_record", record.id)[-1] == "service_record.rated"


def test_disputes_run_for_the_configured_days_and_the_operator_answers(lg):
    record = standalone(lg)

    def dispute(actor, reason="wrong hours"):
        with db.transaction():
            return disputes.raise_dispute(actor=db.session.merge(actor), record=db.session.merge(record),
                                          reason=reason)

    def answer(actor, text="checked the log"):
        with db.transaction():
            return disputes.answer_dispute(actor=db.session.merge(actor), record=db.session.merge(record),
                                           answer=text)

    with pytest.raises(PermissionDenied):
        dispute(lg.bob.user)
    with pytest.raises(ValidationFailed):
        dispute(lg.alice.user, reason="  ")
    with pytest.raises(InvalidState):
        answer(lg.op1)
    dispute(lg.alice.user)
    with pytest.raises(Conflict):
        dispute(lg.alice.user)
    with pytest.raises(PermissionDenied):
        answer(lg.alice.user)
    answered = answer(lg.op2)
    assert (answered.answer, answered.answered_by_id) == ("checked the log", lg.op2.id)
    lg.headers["clock"].move(days=15, minutes=1)
    with pytest.raises(InvalidState) as caught:
        dispute(lg.alice.user)
    assert caught.value.code == "dispute_period_over"
    assert audit_of("service_record", record.id)[-2:] == ["service_record.disputed",
                                                          "service_record.dispute_answered"]
