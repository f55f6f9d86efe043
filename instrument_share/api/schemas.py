"""Request bodies of the accounts API; strict types and no unknown fields (mass-assignment guard)."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from ..db import MAX_ID

# Identifiers are INTEGER columns: a larger number can name nothing, and must not reach the database driver.
Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


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
    superior_id: Id | None = None
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
    superior_id: Id | None = None
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
    other_id: Id
    kind: Literal["shareholding", "subsidiary", "co_building", "same_controller", "same_legal_rep"]


class InvitationCreate(Strict):
    email: StrictStr
    role: StrictStr


class UserCreate(Strict):
    username: StrictStr
    password: StrictStr
    email: StrictStr
    organization_id: Id


class RolesIn(Strict):
    roles: list[StrictStr] = Field(min_length=1)
