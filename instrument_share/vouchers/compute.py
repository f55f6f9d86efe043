"""The subsidy computation of issue 6, step by step, as a pure function (no database, no clock).

Amounts are integers. A line subsidy is kept exactly in ten-thousandths of a fen ("e4"): eligible_fen × rate_bp is
already that number, because rate_bp / 10000 is the rate. The raw subsidy is the sum of the exact line subsidies
rounded ONCE, half up, to whole fen; the caps are then applied in their fixed order, each as a minimum with its
remaining headroom. Clawback (issue 6 workflow) recomputes with the headroom saved at submission, so everything the
computation depends on is an argument.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

E4 = 10_000  # one fen in ten-thousandths of a fen
CAP_ORDER = ("per_claim", "enterprise", "group", "budget")
# Why a claim line is not eligible; a line failing several checks gets the first in this order (docs/api.md v1.1).
REASONS = ("listing_not_open", "mode_not_eligible", "provider_region", "related_provider", "nothing_paid_in_year",
           "already_claimed")


class LineInput(NamedTuple):  # a tuple: a year's replay builds a million of them
    service_record_id: int
    eligible_fen: int
    rate_bp: int
    ledger_entry_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class PolicyNumbers:
    per_claim_cap_fen: int
    enterprise_annual_cap_fen: int
    group_annual_cap_fen: int | None
    budget_fen: int
    min_claim_fen: int

    @classmethod
    def of(cls, policy) -> "PolicyNumbers":
        return cls(policy.per_claim_cap_fen, policy.enterprise_annual_cap_fen, policy.group_annual_cap_fen,
                   policy.budget_fen, policy.min_claim_fen)


@dataclass(frozen=True)
class Headroom:
    """What is left under each cap once the committed claims are counted (never below 0).

    group_fen is None when the policy has no group cap: the group step is then left out of the trace.
    """

    per_claim_fen: int
    enterprise_fen: int
    group_fen: int | None
    budget_fen: int

    @classmethod
    def from_committed(cls, numbers: PolicyNumbers, *, enterprise_committed_fen: int,
                       group_committed_fen: int | None, year_committed_fen: int) -> "Headroom":
        group = None
        if numbers.group_annual_cap_fen is not None:
            group = max(0, numbers.group_annual_cap_fen - (group_committed_fen or 0))
        enterprise = max(0, numbers.enterprise_annual_cap_fen - enterprise_committed_fen)
        budget = max(0, numbers.budget_fen - year_committed_fen)
        return cls(max(0, numbers.per_claim_cap_fen), enterprise, group, budget)

    @classmethod
    def from_trace(cls, trace: dict) -> "Headroom":
        """The headroom recorded in a stored trace (the submitted one, for clawback)."""
        limits = {cap["name"]: cap["limit_fen"] for cap in trace["caps"]}
        return cls(limits["per_claim"], limits["enterprise"], limits.get("group"), limits["budget"])

    def steps(self) -> list[tuple[str, int]]:
        named = [("per_claim", self.per_claim_fen), ("enterprise", self.enterprise_fen), ("group", self.group_fen),
                 ("budget", self.budget_fen)]
        return [(name, max(0, limit)) for name, limit in named if limit is not None]


class LineResult(NamedTuple):
    service_record_id: int
    eligible_fen: int
    rate_bp: int
    line_subsidy_e4: int
    ledger_entry_ids: tuple[int, ...] = ()

    @property
    def line_subsidy(self) -> str:
        return format_e4(self.line_subsidy_e4)


class CapStep(NamedTuple):
    name: str
    limit_fen: int
    before_fen: int
    after_fen: int


@dataclass(frozen=True)
class Trace:
    lines: tuple[LineResult, ...]
    raw_e4: int
    raw_fen: int
    caps: tuple[CapStep, ...]
    min_claim_fen: int
    subsidy_fen: int
    submittable: bool
    ineligible: tuple[tuple[int, str], ...] = field(default=())

    def to_json(self) -> dict:
        """The stored trace: enough to reproduce the claim to the fen."""
        return {
            "lines": [{"service_record_id": ln.service_record_id, "ledger_entry_ids": list(ln.ledger_entry_ids),
                       "eligible_fen": ln.eligible_fen, "rate_bp": ln.rate_bp, "line_subsidy": ln.line_subsidy}
                      for ln in self.lines],
            "ineligible": [{"service_record_id": rid, "reason": reason} for rid, reason in self.ineligible],
            "raw_exact": format_e4(self.raw_e4),
            "raw_fen": self.raw_fen,
            "caps": [{"name": c.name, "limit_fen": c.limit_fen, "before_fen": c.before_fen, "after_fen": c.after_fen}
                     for c in self.caps],
            "min_claim_fen": self.min_claim_fen,
            "submittable": self.submittable,
            "subsidy_fen": self.subsidy_fen,
        }


def format_e4(e4: int) -> str:
    """Exact fen with four decimals: 6172835 → "617.2835"."""
    whole, frac = divmod(e4, E4)
    return f"{whole}.{frac:04d}"


def line_subsidy_e4(eligible_fen: int, rate_bp: int) -> int:
    """Step 1: eligible amount × rate / 10000, exact (in fen × 10⁻⁴ this is a plain product)."""
    if eligible_fen < 0 or not 0 <= rate_bp <= 10000:
        raise ValueError("eligible amount must be ≥ 0 and the rate within 0..10000 bp")
    return eligible_fen * rate_bp


def round_e4_half_up(e4: int) -> int:
    """Step 2's single rounding: ten-thousandths of a fen to whole fen, half up (四舍五入); e4 is never negative."""
    if e4 < 0:
        raise ValueError("subsidies are never negative")
    return (e4 + E4 // 2) // E4


def compute_subsidy(lines: Iterable[LineInput], caps_headroom: Headroom, policy_numbers: PolicyNumbers,
                    ineligible: Sequence[tuple[int, str]] = ()) -> Trace:
    """Steps 1-4 of the computation; deterministic, and the result never exceeds any headroom."""
    results = tuple(LineResult(ln.service_record_id, ln.eligible_fen, ln.rate_bp,
                               line_subsidy_e4(ln.eligible_fen, ln.rate_bp), tuple(ln.ledger_entry_ids))
                    for ln in lines)
    raw_e4 = sum(r.line_subsidy_e4 for r in results)
    raw_fen = round_e4_half_up(raw_e4)
    amount, caps = raw_fen, []
    for name, limit in caps_headroom.steps():
        after = min(amount, limit)
        caps.append(CapStep(name, limit, amount, after))
        amount = after
    submittable = amount > 0 and amount >= policy_numbers.min_claim_fen
    return Trace(results, raw_e4, raw_fen, tuple(caps), policy_numbers.min_claim_fen, amount, submittable,
                 tuple(ineligible))


def line_reason(*, listing_open: bool, mode_eligible: bool, provider_in_region: bool, provider_related: bool,
                eligible_fen: int, claimed_elsewhere: bool) -> str | None:
    """The first failed check of a claim line in REASONS order, or None when the line is eligible.

    listing_open: the instrument was open to the claimant through the platform at the service's start (measure 19;
    catalogue/listing_periods.py decides it).
    """
    failed = (not listing_open, not mode_eligible, not provider_in_region, provider_related, eligible_fen <= 0,
              claimed_elsewhere)
    return next((reason for reason, fails in zip(REASONS, failed, strict=True) if fails), None)


class Entry(NamedTuple):
    """The part of a ledger entry the eligible amount depends on (a tuple: a year's replay reads millions)."""

    id: int
    kind: str  # charge | payment | refund | adjustment
    direction: str | None  # adjustments: credit (in the user's favour) | debit
    amount_fen: int
    year: int  # of the entry date (already a local calendar day)


def eligible_amount(entries: Iterable[Entry], year: int) -> tuple[int, tuple[int, ...]]:
    """Payments dated in the policy year minus every refund (whatever its date), never more than what was charged
    (charges + debit adjustments − credit adjustments), never below 0; with the ids of the entries used.

    Adjustment requests still waiting for approval are not ledger entries, so they count for nothing here.
    """
    paid = refunded = charged = 0
    used: list[int] = []
    for entry in entries:
        if entry.kind == "payment":
            if entry.year != year:
                continue
            paid += entry.amount_fen
        elif entry.kind == "refund":
            refunded += entry.amount_fen
        elif entry.kind == "charge":
            charged += entry.amount_fen
        elif entry.kind == "adjustment":
            charged += entry.amount_fen if entry.direction == "debit" else -entry.amount_fen
        else:
            continue
        used.append(entry.id)
    return eligible_from_sums(paid, refunded, charged), tuple(sorted(used))


def eligible_from_sums(paid_in_year: int, refunded: int, charged: int) -> int:
    """The rule itself, for callers that let the database add up the entries by kind (a whole year's replay)."""
    return max(0, min(paid_in_year - refunded, charged))
