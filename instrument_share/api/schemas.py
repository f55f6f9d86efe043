"""Request bodies of the accounts API; strict types and no unknown fields (mass-assignment guard)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TokenRequest(Strict):
    totp: StrictStr | None = None
    name: StrictStr | None = Field(default=None, max_length=100)


class SmeIn(Strict):
    staff_count: StrictInt | None = Field(default=None, ge=0)
    annual_revenue_fen: StrictInt | None = Field(default=None, ge=0)
    total_assets_fen: StrictInt | None = Field(default=None, ge=0)
    tech_sme_no: StrictStr | None = Field(default=None, max_length=64)


class FirstUserIn(Strict):
    username: StrictStr
    password: StrictStr
    email: StrictStr


OrgKindName = Literal["enterprise", "university", "research_institute", "key_lab", "defence_unit", "authority",
                      "commission"]


class OrganizationCreate(Strict):
    name: StrictStr
    uscc: StrictStr
    kind: OrgKindName
    region_code: StrictStr | None = None
    superior_id: StrictInt | None = None
    actual_controller: StrictStr | None = None
    sme: SmeIn | None = None
    first_user: FirstUserIn | None = None
    contact_name: StrictStr | None = None
    contact_phone: StrictStr | None = None
    contact_email: StrictStr | None = None
    address: StrictStr | None = None


class OrganizationPatch(Strict):
    name: StrictStr | None = None
    region_code: StrictStr | None = None
    superior_id: StrictInt | None = None
    actual_controller: StrictStr | None = None
    contact_name: StrictStr | None = None
    contact_phone: StrictStr | None = None
    contact_email: StrictStr | None = None
    address: StrictStr | None = None
    sme: SmeIn | None = None
    dishonest: StrictBool | None = None


class ReasonIn(Strict):
    reason: StrictStr | None = Field(default=None, max_length=1000)


class RelationCreate(Strict):
    other_id: StrictInt
    kind: Literal["shareholding", "subsidiary", "co_building", "same_controller", "same_legal_rep"]


class InvitationCreate(Strict):
    email: StrictStr
    role: StrictStr


class UserCreate(Strict):
    username: StrictStr
    password: StrictStr
    email: StrictStr
    organization_id: StrictInt


class RolesIn(Strict):
    roles: list[StrictStr] = Field(min_length=1)
