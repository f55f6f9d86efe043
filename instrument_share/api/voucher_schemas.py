"""Request bodies of the vouchers API (values are checked again, and named, by the services), and the documented
shape of a claim."""

from typing import Literal

from pydantic import BaseModel, Field, StrictInt, StrictStr

from ..vouchers.compute import REASONS
from .schemas import Id, Strict

Fen = StrictInt
Ids = list[Id]


class PolicyIn(Strict):
    year: StrictInt
    valid_from: StrictStr
    valid_to: StrictStr
    supersedes_id: Id | None = None
    budget_fen: Fen
    rate_bp: StrictInt | None = None
    defence_rate_bp: StrictInt | None = None
    per_claim_cap_fen: Fen | None = None
    enterprise_annual_cap_fen: Fen | None = None
    group_annual_cap_fen: Fen | None = None
    min_claim_fen: Fen | None = None
    eligible_modes: list[StrictStr] | None = Field(default=None, max_length=10)
    provider_region_prefixes: list[StrictStr] | None = Field(default=None, max_length=50)
    claimant_region_prefixes: list[StrictStr] | None = Field(default=None, max_length=50)
    sme_max_staff: StrictInt | None = None
    sme_max_revenue_fen: Fen | None = None
    sme_max_assets_fen: Fen | None = None


class ClaimIn(Strict):
    policy_id: Id
    service_record_ids: Ids = Field(min_length=1, max_length=500)


class ClaimLinesIn(Strict):
    service_record_ids: Ids = Field(min_length=1, max_length=500)


class SubmitIn(Strict):
    contract_nos: list[StrictStr] = Field(default_factory=list, max_length=500)
    invoice_nos: list[StrictStr] = Field(default_factory=list, max_length=500)


# ------------------------------------------------------------------------------------------------ answers (OpenAPI)


class ClaimLineOut(BaseModel):
    service_record_id: int
    ledger_entry_ids: list[int]
    eligible_fen: int
    rate_bp: int
    line_subsidy: str = Field(description="exact fen with 4 decimals, e.g. \"617.2835\"")


class IneligibleLineOut(BaseModel):
    service_record_id: int
    reason: Literal[REASONS] = Field(description="the first failed check, in this order: " + ", ".join(REASONS))


class ClaimOut(BaseModel):
    """A voucher claim (vouchers/present.py claim_json; fields a viewer may not see are absent)."""

    id: int
    organization_id: int
    policy_id: int
    year: int
    status: str
    lines: list[ClaimLineOut]
    ineligible: list[IneligibleLineOut]
    trace: dict
    subsidy_fen: int
