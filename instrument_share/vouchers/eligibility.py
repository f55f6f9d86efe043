"""Whether an enterprise may claim under a policy: each criterion with its result and the reason (docs/api.md order)."""

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from ..accounts.models import Organization
from ..accounts.roles import OrgKind, OrgStatus
from .models import VoucherPolicy
from .policies import split

CRITERIA = ("enterprise", "verified", "claimant_region", "sme_staff", "sme_revenue", "sme_assets", "tech_sme_no",
            "not_dishonest")


@dataclass(frozen=True)
class Criterion:
    name: str
    passed: bool
    reason: str


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    criteria: list[Criterion] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"eligible": self.eligible,
                "criteria": [{"name": c.name, "passed": c.passed, "reason": c.reason} for c in self.criteria]}


def _within(value: int | None, limit: int, label) -> tuple[bool, str]:
    """Limits are inclusive; a figure the enterprise has not given fails."""
    if value is None:
        return False, str(_l("%(what)s is not given in the SME profile.", what=label))
    if value <= limit:
        return True, str(_l("%(what)s %(value)d is within the limit %(limit)d.", what=label, value=value, limit=limit))
    return False, str(_l("%(what)s %(value)d is above the limit %(limit)d.", what=label, value=value, limit=limit))


def check(org: Organization, policy: VoucherPolicy) -> Eligibility:
    prefixes = split(policy.claimant_region_prefixes)
    region = org.region_code or ""
    in_region = any(region.startswith(p) for p in prefixes)
    tech_no = (org.tech_sme_no or "").strip()
    results = [
        ("enterprise", org.kind == OrgKind.enterprise,
         _l("The organisation is an enterprise.") if org.kind == OrgKind.enterprise
         else _l("Only enterprises can claim innovation vouchers.")),
        ("verified", org.status == OrgStatus.verified,
         _l("The organisation is verified.") if org.status == OrgStatus.verified
         else _l("The organisation is not verified.")),
        ("claimant_region", in_region,
         _l("Region %(code)s is within %(prefixes)s.", code=region, prefixes=", ".join(prefixes)) if in_region
         else _l("Region %(code)s is outside %(prefixes)s.", code=region, prefixes=", ".join(prefixes))),
        ("sme_staff", *_within(org.sme_staff_count, policy.sme_max_staff, _l("Staff count"))),
        ("sme_revenue", *_within(org.sme_annual_revenue_fen, policy.sme_max_revenue_fen, _l("Annual revenue (fen)"))),
        ("sme_assets", *_within(org.sme_total_assets_fen, policy.sme_max_assets_fen, _l("Total assets (fen)"))),
        ("tech_sme_no", bool(tech_no),
         _l("Tech-SME registration number %(no)s.", no=tech_no) if tech_no
         else _l("No tech-SME registration number.")),
        ("not_dishonest", not org.dishonest,
         _l("Not on the dishonesty list.") if not org.dishonest else _l("Flagged as dishonest.")),
    ]
    criteria = [Criterion(name, bool(passed), str(reason)) for name, passed, reason in results]
    return Eligibility(all(c.passed for c in criteria), criteria)
