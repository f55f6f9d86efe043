"""Request bodies of the service record, ledger and rating API (docs/api.md "Service records, revenue, ratings")."""

from typing import Literal

from pydantic import Field, StrictInt, StrictStr

from .schemas import Id, Strict

Mode = Literal["machine_time", "sample_testing", "experiment", "statutory_testing"]


class RecordFromBookingIn(Strict):
    actual_start: StrictStr
    actual_end: StrictStr
    samples: StrictInt | None = None
    result_delivered_on: StrictStr | None = None


class RecordIn(RecordFromBookingIn):
    instrument_id: Id
    organization_id: Id
    mode: Mode


class RatingIn(Strict):
    score: StrictInt = Field(ge=1, le=5)
    comment: StrictStr | None = Field(default=None, max_length=2000)


class DisputeIn(Strict):
    reason: StrictStr = Field(max_length=2000)


class AnswerIn(Strict):
    answer: StrictStr = Field(max_length=2000)


class EntryIn(Strict):
    service_record_id: Id
    kind: Literal["charge", "payment", "refund", "adjustment"]
    direction: Literal["credit", "debit"] | None = None
    amount_fen: StrictInt
    entry_date: StrictStr
    invoice_no: StrictStr | None = Field(default=None, max_length=64)
    payment_ref: StrictStr | None = Field(default=None, max_length=100)
    reason: StrictStr | None = Field(default=None, max_length=2000)
    corrects_id: Id | None = None


class RejectIn(Strict):
    reason: StrictStr | None = Field(default=None, max_length=2000)
