"""Request bodies of the bookings API."""

from typing import Literal

from pydantic import Field, StrictBool, StrictInt, StrictStr

from .schemas import Id, Strict


class WindowIn(Strict):
    weekday: StrictInt = Field(ge=0, le=6)
    start: StrictStr
    end: StrictStr


class BlackoutIn(Strict):
    start: StrictStr
    end: StrictStr
    reason: StrictStr | None = None


class RulesIn(Strict):
    opening_hours: list[WindowIn] | None = None
    blackouts: list[BlackoutIn] | None = None
    min_minutes: StrictInt | None = None
    max_minutes: StrictInt | None = None
    granularity_minutes: StrictInt | None = None
    min_notice_hours: StrictInt | None = None
    max_horizon_days: StrictInt | None = None
    buffer_minutes: StrictInt | None = None
    needs_confirmation: StrictBool | None = None
    cancel_notice_hours: StrictInt | None = None
    quota_hours_per_org: StrictInt | None = None


class BookingIn(Strict):
    instrument_id: Id
    mode: Literal["machine_time", "sample_testing", "experiment", "statutory_testing"]
    start: StrictStr | None = None
    end: StrictStr | None = None
    samples: StrictInt | None = None
    wanted_by: StrictStr | None = None


class ReasonIn(Strict):
    reason: StrictStr | None = Field(default=None, max_length=1000)
