"""Listing history for measure 19: when each listing was open to other organisations, and under which approval.

Measure 19 supports services of instruments opened through the platform, so a service for another organisation is
recorded (and subsidised) only when its instrument was open at the service's start. `listing_periods` keeps one
row per interval a listing was published, with the approval's validity for a defence listing; `sync` (and `opened`
for listings created published) is the only writer, called in the transaction that changes a listing's status or
approval. `closed_reason` is the rule, a pure function; `facts_at` is the one query that gathers what it needs, for
one service record or for every line of a voucher claim.

Clearances keep their creation time but not their removal (removing deletes the row), so "cleared at the start"
is read from the current register: an organisation cleared now counts as cleared then.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import select, tuple_

from ..accounts.models import Organization
from ..accounts.roles import OrgKind
from ..core.clock import local_zone, now_utc
from ..db import db
from .fields import Status
from .models import Clearance, Instrument, ListingPeriod

CLOSED_REASONS = ("not_published", "approval_not_valid", "not_cleared")
CHUNK = 500


# ------------------------------------------------------------------------------------------------ the rule


@dataclass(frozen=True)
class ListingFacts:
    """What the rule needs about one service: whose use it was, and the instrument's listing at the start."""

    own_use: bool  # the owning unit's own use: recordable whatever the listing's state
    is_defence: bool
    published: bool  # a listing period covers the start
    valid_from: date | None  # the approval's validity in that period (defence listings)
    valid_until: date | None
    cleared: bool  # the owning defence unit has cleared the user organisation
    day: date  # the local calendar day of the start


def closed_reason(facts: ListingFacts) -> str | None:
    """None when the instrument was open to the service's user at its start, else why not (CLOSED_REASONS).

    Open: published, and for a defence listing an approval valid on that local day and the user organisation
    cleared (a defence listing is booked by cleared organisations only).
    """
    if facts.own_use:
        return None
    if not facts.published:
        return "not_published"
    if facts.is_defence:
        if facts.valid_from is None or facts.valid_until is None or \
                not facts.valid_from <= facts.day <= facts.valid_until:
            return "approval_not_valid"
        if not facts.cleared:
            return "not_cleared"
    return None


# ------------------------------------------------------------------------------------------------ the query


class Service(NamedTuple):
    instrument_id: int
    organization_id: int
    start: datetime


def _chunks(values: list, size: int = CHUNK):
    for i in range(0, len(values), size):
        yield values[i:i + size]


def facts_at(services: Sequence[Service]) -> list[ListingFacts]:
    """The facts of each service, in a few queries whatever their number (a claim checks up to 500 lines)."""
    zone = local_zone()
    instrument_ids = sorted({s.instrument_id for s in services})
    latest = max((s.start for s in services), default=None)
    owners: dict[int, tuple[int, bool]] = {}
    periods: dict[int, list] = defaultdict(list)
    for chunk in _chunks(instrument_ids):
        owners.update({row.id: (row.owner_id, row.kind == OrgKind.defence_unit) for row in db.session.execute(
            select(Instrument.id, Instrument.owner_id, Organization.kind)
            .join(Organization, Organization.id == Instrument.owner_id).where(Instrument.id.in_(chunk)))})
        for row in db.session.execute(
                select(ListingPeriod.instrument_id, ListingPeriod.opened_at, ListingPeriod.closed_at,
                       ListingPeriod.valid_from, ListingPeriod.valid_until)
                .where(ListingPeriod.instrument_id.in_(chunk), ListingPeriod.opened_at <= latest)):
            periods[row.instrument_id].append(row)
    pairs = sorted({(owners[s.instrument_id][0], s.organization_id) for s in services
                    if owners[s.instrument_id][1]})
    cleared: set[tuple[int, int]] = set()
    for chunk in _chunks(pairs):
        cleared.update(tuple(row) for row in db.session.execute(
            select(Clearance.unit_id, Clearance.organization_id)
            .where(tuple_(Clearance.unit_id, Clearance.organization_id).in_(chunk))))
    facts = []
    for service in services:
        owner_id, is_defence = owners[service.instrument_id]
        period = next((p for p in periods[service.instrument_id] if p.opened_at <= service.start
                       and (p.closed_at is None or service.start < p.closed_at)), None)
        facts.append(ListingFacts(
            own_use=service.organization_id == owner_id, is_defence=is_defence, published=period is not None,
            valid_from=period.valid_from if period else None, valid_until=period.valid_until if period else None,
            cleared=(owner_id, service.organization_id) in cleared, day=service.start.astimezone(zone).date()))
    return facts


def reason_for(instrument_id: int, organization_id: int, start: datetime) -> str | None:
    """closed_reason of one service."""
    return closed_reason(facts_at([Service(instrument_id, organization_id, start)])[0])


# ------------------------------------------------------------------------------------------------ writing


def _validity(instrument: Instrument) -> tuple[date | None, date | None]:
    return (instrument.approved_on, instrument.valid_until) if instrument.is_defence else (None, None)


def sync(instrument: Instrument, *, at: datetime | None = None) -> None:
    """Open, close or re-open the listing's period to match its status and approval now (after changing them).

    A new approval of a published defence listing (a revision, a renewal) closes the period and opens another, so
    each period carries the validity that held during it.
    """
    at = at or now_utc()
    db.session.flush()  # the listing's own UPDATE row-locks it first, so two changes of one listing queue here
    current = db.session.scalar(select(ListingPeriod).where(ListingPeriod.instrument_id == instrument.id,
                                                            ListingPeriod.closed_at.is_(None)))
    published, validity = instrument.status == Status.published, _validity(instrument)
    if current is not None and published and (current.valid_from, current.valid_until) == validity:
        return
    if current is not None:
        current.closed_at = max(at, current.opened_at)
        db.session.flush()  # closed before the next one opens: at most one open period per listing
    if published:
        db.session.add(ListingPeriod(instrument_id=instrument.id, opened_at=at, valid_from=validity[0],
                                     valid_until=validity[1]))
        db.session.flush()


def opened(instruments: Iterable[Instrument], *, at: datetime | None = None) -> None:
    """Open the periods of listings created published (catalogue import, demo data): they have none yet."""
    at = at or now_utc()
    rows = [{"instrument_id": i.id, "opened_at": at, "valid_from": _validity(i)[0], "valid_until": _validity(i)[1],
             "source": "recorded"} for i in instruments if i.status == Status.published]
    if rows:
        db.session.execute(ListingPeriod.__table__.insert(), rows)
