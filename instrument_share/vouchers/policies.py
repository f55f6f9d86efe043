"""Voucher policies: one per year, versioned. A policy is never edited; a change is a new version that supersedes it.

All versions of a year share their committed totals and their lock (claims carry the year); only the newest version
accepts new claims.
"""

from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts.access import is_commission
from ..accounts.roles import Role
from ..audit import chain as audit
from ..catalogue.fields import ServiceMode
from ..core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from ..db import db
from .models import VoucherPolicy

DEFAULT_RATE_BP = 5000
DEFAULT_ENTERPRISE_CAP_FEN = 30_000_000  # 300,000 yuan per enterprise per year
DEFAULT_MODES = ("machine_time", "sample_testing", "experiment")
DEFAULT_PREFIXES = ("3201",)  # Nanjing
DEFAULT_SME_MAX_STAFF = 500
DEFAULT_SME_MAX_FEN = 20_000_000_000  # 200,000,000 yuan
MAX_FEN = 10**15  # far above any real budget; keeps absurd numbers out of BIGINT arithmetic
NEVER_ELIGIBLE_MODES = frozenset({ServiceMode.statutory_testing.value})


def split(text: str | None) -> list[str]:
    return [part for part in (text or "").split(",") if part]


def newest_version(year: int) -> VoucherPolicy | None:
    return db.session.scalar(select(VoucherPolicy).where(VoucherPolicy.year == year)
                             .order_by(VoucherPolicy.version.desc()).limit(1))


def is_newest(policy: VoucherPolicy) -> bool:
    newest = newest_version(policy.year)
    return newest is not None and newest.id == policy.id


def within_dates(policy: VoucherPolicy, today: date) -> bool:
    return policy.valid_from <= today <= policy.valid_to


def is_open(policy: VoucherPolicy, today: date) -> bool:
    """Claims can be created and submitted: inside the valid dates and not superseded."""
    return within_dates(policy, today) and is_newest(policy)


def get_policy(policy_id: int) -> VoucherPolicy:
    policy = db.session.get(VoucherPolicy, policy_id) if isinstance(policy_id, int) else None
    if policy is None:
        raise NotFound(_("No such voucher policy."))
    return policy


def _int(data: dict, name: str, default=None, *, maximum: int = MAX_FEN, required: bool = False):
    value = data.get(name)
    if value is None:
        if required:
            raise ValidationFailed(_("%(name)s is required.", name=name), fields={name: _("required")})
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise ValidationFailed(_("%(name)s must be a whole number from 0 to %(max)d.", name=name, max=maximum),
                               fields={name: _("whole number from 0 to %(max)d", max=maximum)})
    return value


def _date(data: dict, name: str) -> date:
    value = data.get(name)
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(_("%(name)s is a date like 2026-01-01.", name=name),
                               fields={name: _("YYYY-MM-DD")}) from exc


def _modes(data: dict) -> list[str]:
    modes = data.get("eligible_modes")
    if modes is None:
        return list(DEFAULT_MODES)
    known = {m.value for m in ServiceMode}
    if not isinstance(modes, list) or not modes or any(m not in known for m in modes):
        raise ValidationFailed(_("eligible_modes lists known service modes."),
                               fields={"eligible_modes": _("a non-empty list of service modes")})
    if NEVER_ELIGIBLE_MODES & set(modes):
        raise ValidationFailed(_("Statutory testing is never eligible for vouchers."),
                               fields={"eligible_modes": _("statutory_testing is never eligible")})
    return list(dict.fromkeys(modes))


def _prefixes(data: dict, name: str) -> list[str]:
    prefixes = data.get(name)
    if prefixes is None:
        return list(DEFAULT_PREFIXES)
    if (not isinstance(prefixes, list) or not prefixes
            or any(not isinstance(p, str) or not p.isascii() or not p.isdigit() or not 1 <= len(p) <= 6
                   for p in prefixes)):
        raise ValidationFailed(_("%(name)s lists region code prefixes of 1 to 6 digits.", name=name),
                               fields={name: _("a non-empty list of 1-6 digit prefixes")})
    return list(dict.fromkeys(prefixes))


def _superseded(data: dict, year: int) -> VoucherPolicy | None:
    old_id = data.get("supersedes_id")
    if old_id is None:
        if newest_version(year) is not None:
            raise Conflict(_("This year already has a policy: a change is a new version that supersedes it."),
                           code="policy_exists", fields={"supersedes_id": _("required for a year with a policy")})
        return None
    old = db.session.get(VoucherPolicy, old_id) if isinstance(old_id, int) and not isinstance(old_id, bool) else None
    if old is None:
        raise ValidationFailed(_("The superseded policy does not exist."), fields={"supersedes_id": _("not found")})
    if old.year != year:
        raise ValidationFailed(_("A new version keeps the year of the policy it supersedes."),
                               fields={"supersedes_id": _("policy of another year")})
    if not is_newest(old):
        raise Conflict(_("Only the newest version of a policy can be superseded."), code="invalid_state")
    return old


def create_policy(*, actor, data: dict) -> VoucherPolicy:
    """A new policy, or with supersedes_id a new version of the same year (the caller owns the transaction)."""
    if not (is_commission(actor) and actor.has_role(Role.commission_officer)):
        raise PermissionDenied(_("Only a commission officer defines voucher policies."))
    year = _int(data, "year", required=True, maximum=9999)
    if not 2000 <= year <= 2100:
        raise ValidationFailed(_("year is out of range."), fields={"year": _("2000 to 2100")})
    valid_from, valid_to = _date(data, "valid_from"), _date(data, "valid_to")
    if valid_to < valid_from:
        raise ValidationFailed(_("valid_to is before valid_from."), fields={"valid_to": _("before valid_from")})
    rate = _int(data, "rate_bp", DEFAULT_RATE_BP, maximum=10000)
    enterprise_cap = _int(data, "enterprise_annual_cap_fen", DEFAULT_ENTERPRISE_CAP_FEN)
    # The year's lock serialises versions too: two officers superseding the same version at once get one winner.
    from .claims import lock_year

    lock_year(year)
    old = _superseded(data, year)
    policy = VoucherPolicy(
        year=year, version=(old.version + 1) if old else 1, supersedes_id=old.id if old else None,
        valid_from=valid_from, valid_to=valid_to, budget_fen=_int(data, "budget_fen", required=True),
        rate_bp=rate, defence_rate_bp=_int(data, "defence_rate_bp", rate, maximum=10000),
        per_claim_cap_fen=_int(data, "per_claim_cap_fen", enterprise_cap), enterprise_annual_cap_fen=enterprise_cap,
        group_annual_cap_fen=_int(data, "group_annual_cap_fen"), min_claim_fen=_int(data, "min_claim_fen", 0),
        eligible_modes=",".join(_modes(data)),
        provider_region_prefixes=",".join(_prefixes(data, "provider_region_prefixes")),
        claimant_region_prefixes=",".join(_prefixes(data, "claimant_region_prefixes")),
        sme_max_staff=_int(data, "sme_max_staff", DEFAULT_SME_MAX_STAFF, maximum=10**9),
        sme_max_revenue_fen=_int(data, "sme_max_revenue_fen", DEFAULT_SME_MAX_FEN),
        sme_max_assets_fen=_int(data, "sme_max_assets_fen", DEFAULT_SME_MAX_FEN),
        created_by_id=actor.id)
    db.session.add(policy)
    db.session.flush()
    audit.append("voucher.policy_created", actor=actor, object_type="voucher_policy", object_id=policy.id,
                 details=policy_json(policy))
    return policy


def policy_json(policy: VoucherPolicy) -> dict:
    newest = newest_version(policy.year)
    return {
        "id": policy.id, "year": policy.year, "version": policy.version, "supersedes_id": policy.supersedes_id,
        "superseded": newest is not None and newest.id != policy.id,
        "valid_from": policy.valid_from.isoformat(), "valid_to": policy.valid_to.isoformat(),
        "budget_fen": policy.budget_fen, "rate_bp": policy.rate_bp, "defence_rate_bp": policy.defence_rate_bp,
        "per_claim_cap_fen": policy.per_claim_cap_fen, "enterprise_annual_cap_fen": policy.enterprise_annual_cap_fen,
        "group_annual_cap_fen": policy.group_annual_cap_fen, "min_claim_fen": policy.min_claim_fen,
        "eligible_modes": split(policy.eligible_modes),
        "provider_region_prefixes": split(policy.provider_region_prefixes),
        "claimant_region_prefixes": split(policy.claimant_region_prefixes),
        "sme_max_staff": policy.sme_max_staff, "sme_max_revenue_fen": policy.sme_max_revenue_fen,
        "sme_max_assets_fen": policy.sme_max_assets_fen,
    }
