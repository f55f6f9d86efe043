"""Ratings: the user organisation rates a completed service once (1–5, comment); averages per instrument and unit."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..accounts.roles import Role
from ..audit import chain as audit
from ..core.clock import now_utc
from ..core.errors import Conflict, InvalidState, PermissionDenied, ValidationFailed
from ..db import db
from .models import ServiceRating, ServiceRecord

MAX_COMMENT = 2000


@dataclass(frozen=True)
class RatingSummary:
    count: int
    total: int

    @property
    def average(self) -> Decimal | None:
        """Mean score to two decimals, rounded half up; None when nobody rated."""
        if not self.count:
            return None
        return (Decimal(self.total) / self.count).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def may_rate(actor, record: ServiceRecord) -> bool:
    return actor is not None and actor.organization_id == record.organization_id and record.external and \
        actor.has_role(Role.sme_user, Role.provider_operator) and record.actual_end <= now_utc()


def rating_of(record_id: int) -> ServiceRating | None:
    return db.session.scalar(select(ServiceRating).where(ServiceRating.service_record_id == record_id))


def rate(*, actor, record: ServiceRecord, score: int, comment: str | None = "") -> ServiceRating:
    if actor.organization_id != record.organization_id or not actor.has_role(Role.sme_user, Role.provider_operator):
        raise PermissionDenied(_("Only the organisation that used the service rates it."))
    if not record.external:
        raise PermissionDenied(_("A unit does not rate its own use of its instruments."), code="own_service")
    if record.actual_end > now_utc():
        raise InvalidState(_("A service is rated after it has ended."))
    problems = {}
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        problems["score"] = _("a whole number from 1 to 5")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        problems["comment"] = _("at most %(n)d characters", n=MAX_COMMENT)
    if problems:
        raise ValidationFailed(_("Some values are invalid: %(f)s.", f=", ".join(sorted(problems))), fields=problems)
    if rating_of(record.id) is not None:
        raise Conflict(_("This service has already been rated."), code="already_rated")
    rating = ServiceRating(service_record_id=record.id, instrument_id=record.instrument_id, unit_id=record.unit_id,
                           organization_id=record.organization_id, user_id=actor.id, score=score, comment=comment,
                           created_at=now_utc())
    try:
        with db.session.begin_nested():  # two people of the organisation rating at once: the second is refused
            db.session.add(rating)
            db.session.flush()
    except IntegrityError:
        raise Conflict(_("This service has already been rated."), code="already_rated") from None
    audit.append("service_record.rated", actor=actor, organization_id=record.organization_id,
                 object_type="service_record", object_id=record.id, details={"score": score})
    return rating


def _summary(stmt) -> RatingSummary:
    count, total = db.session.execute(stmt).one()
    return RatingSummary(int(count or 0), int(total or 0))


def instrument_rating(instrument_id: int) -> RatingSummary:
    return _summary(select(func.count(ServiceRating.id), func.sum(ServiceRating.score)).where(
        ServiceRating.instrument_id == instrument_id))


def unit_rating(unit_id: int) -> RatingSummary:
    return _summary(select(func.count(ServiceRating.id), func.sum(ServiceRating.score)).where(
        ServiceRating.unit_id == unit_id))
