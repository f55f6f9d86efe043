"""Request bodies of the catalogue API (shapes only; values are checked by catalogue.values)."""

from typing import Literal

from pydantic import Field, StrictInt, StrictStr

from .schemas import Id, Strict

Level = Literal["public", "registered", "cleared", "hidden"]


class InstrumentPatch(Strict):
    name_zh: StrictStr | None = None
    name_en: StrictStr | None = None
    model: StrictStr | None = None
    manufacturer: StrictStr | None = None
    country: StrictStr | None = None
    serial_no: StrictStr | None = None
    purchase_date: StrictStr | None = Field(default=None, description="YYYY-MM-DD")
    original_value_fen: StrictInt | None = Field(default=None, ge=0)
    category_code: StrictStr | None = None
    location: StrictStr | None = None
    district: StrictStr | None = None
    technical_indicators: StrictStr | None = None
    main_functions: StrictStr | None = None
    service_content: StrictStr | None = None
    service_modes: list[Literal["machine_time", "sample_testing", "experiment", "statutory_testing"]] | None = None
    fee_per_hour_fen: StrictInt | None = Field(default=None, ge=0)
    fee_per_sample_fen: StrictInt | None = Field(default=None, ge=0)
    fee_notes: StrictStr | None = None
    contact: StrictStr | None = None


class InstrumentIn(InstrumentPatch):
    owner_id: Id | None = None


class ReviewIn(Strict):
    result: Literal["passed", "failed"]
    field_visibility: dict[StrictStr, Level] | None = None
    comment: StrictStr | None = Field(default=None, max_length=2000)


class ApproveIn(Strict):
    approval_no: StrictStr
    valid_until: StrictStr | None = Field(default=None, description="YYYY-MM-DD")


class ReasonIn(Strict):
    reason: StrictStr | None = Field(default=None, max_length=1000)


class ClearanceIn(Strict):
    organization_id: Id
    agreement_version: StrictStr


class ResourcePatch(Strict):
    kind: StrictStr | None = None
    name_zh: StrictStr | None = None
    name_en: StrictStr | None = None
    level: StrictStr | None = None
    fields_of_work: StrictStr | None = None
    services: StrictStr | None = None
    contact: StrictStr | None = None
    website: StrictStr | None = None
    is_published: bool | None = None
    instrument_ids: list[Id] | None = None


class ResourceIn(ResourcePatch):
    organization_id: Id | None = None
