"""Load and set an instrument's booking rules and blackouts."""

import json
from datetime import datetime, time

from flask_babel import gettext as _
from sqlalchemy import select

from ..audit import chain as audit
from ..catalogue import access
from ..catalogue.models import Instrument
from ..core.clock import local_iso
from ..core.errors import PermissionDenied, ValidationFailed
from ..db import db
from .models import Blackout, BookingRuleSet
from .rules import DEFAULT_OPENING, Rules, Window

LIMITS = {  # field: (default, minimum, maximum)
    "min_minutes": (30, 5, 24 * 60),
    "max_minutes": (480, 5, 14 * 24 * 60),
    "granularity_minutes": (30, 5, 24 * 60),
    "min_notice_hours": (24, 0, 24 * 60),
    "max_horizon_days": (90, 1, 730),
    "buffer_minutes": (0, 0, 24 * 60),
    "cancel_notice_hours": (24, 0, 24 * 60),
}
QUOTA_HOURS_MAX = 100_000  # future hours per organisation; far beyond any real quota, and within an INTEGER column


def _windows(raw: list[dict]) -> tuple[Window, ...]:
    return tuple(Window(w["weekday"], time.fromisoformat(w["start"]), time.fromisoformat(w["end"])) for w in raw)


def windows_json(windows) -> list[dict]:
    return [{"weekday": w.weekday, "start": w.start.strftime("%H:%M"), "end": w.end.strftime("%H:%M")}
            for w in windows]


def blackouts_of(instrument_id: int) -> list[Blackout]:
    return list(db.session.scalars(select(Blackout).where(Blackout.instrument_id == instrument_id)
                                   .order_by(Blackout.start_at)))


def load_rules(instrument_id: int) -> Rules:
    stored = db.session.get(BookingRuleSet, instrument_id)
    blackouts = tuple((b.start_at, b.end_at, b.reason) for b in blackouts_of(instrument_id))
    if stored is None:
        return Rules(blackouts=blackouts)
    return Rules(opening_hours=_windows(json.loads(stored.opening_hours)), blackouts=blackouts,
                 min_minutes=stored.min_minutes, max_minutes=stored.max_minutes,
                 granularity_minutes=stored.granularity_minutes, min_notice_hours=stored.min_notice_hours,
                 max_horizon_days=stored.max_horizon_days, buffer_minutes=stored.buffer_minutes,
                 needs_confirmation=stored.needs_confirmation, cancel_notice_hours=stored.cancel_notice_hours,
                 quota_hours_per_org=stored.quota_hours_per_org)


def rules_json(instrument_id: int) -> dict:
    rules = load_rules(instrument_id)
    return {"opening_hours": windows_json(rules.opening_hours),
            "blackouts": [{"start": local_iso(s), "end": local_iso(e), "reason": r} for s, e, r in rules.blackouts],
            **{name: getattr(rules, name) for name in LIMITS},
            "needs_confirmation": rules.needs_confirmation, "quota_hours_per_org": rules.quota_hours_per_org}


def _parse_opening(raw, errors: dict) -> list[dict]:
    if raw is None:
        return windows_json(DEFAULT_OPENING)
    if not isinstance(raw, list):
        errors["opening_hours"] = _("a list of {weekday, start, end} expected")
        return []
    out = []
    for i, item in enumerate(raw):
        try:
            weekday, start, end = item["weekday"], time.fromisoformat(item["start"]), time.fromisoformat(item["end"])
            if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
                raise ValueError
            if end <= start or start.second or end.second:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            errors[f"opening_hours.{i}"] = _("weekday 0–6 (Monday 0), start and end as HH:MM, end after start")
            continue
        out.append({"weekday": weekday, "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")})
    return out


def _parse_blackouts(raw, errors: dict) -> list[tuple[datetime, datetime, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors["blackouts"] = _("a list of {start, end, reason} expected")
        return []
    out = []
    for i, item in enumerate(raw):
        try:
            start, end = datetime.fromisoformat(item["start"]), datetime.fromisoformat(item["end"])
            if start.tzinfo is None or end.tzinfo is None or end <= start:
                raise ValueError
            reason = str(item.get("reason") or "")[:200]
        except (KeyError, TypeError, ValueError):
            errors[f"blackouts.{i}"] = _("start and end as ISO 8601 times with offset, end after start")
            continue
        out.append((start, end, reason))
    return out


def set_rules(*, actor, instrument: Instrument, payload: dict) -> None:
    """Replace the whole rule set (omitted fields take the defaults) and the blackouts, in the caller's transaction."""
    if not access.is_operator_of(actor, instrument.owner_id):
        raise PermissionDenied(_("Only the owning unit's instrument operators set booking rules."))
    errors: dict[str, str] = {}
    values = {}
    for name, (default, low, high) in LIMITS.items():
        value = payload.get(name, default)
        if value is None:
            value = default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[name] = _("a whole number from %(low)d to %(high)d", low=low, high=high)
        values[name] = value
    quota = payload.get("quota_hours_per_org")
    if quota is not None and (isinstance(quota, bool) or not isinstance(quota, int)
                              or not 1 <= quota <= QUOTA_HOURS_MAX):
        errors["quota_hours_per_org"] = _("a whole number of hours from 1 to %(high)d, or null", high=QUOTA_HOURS_MAX)
    confirm = payload.get("needs_confirmation", True)
    if not isinstance(confirm, bool):
        errors["needs_confirmation"] = _("true or false")
    opening = _parse_opening(payload.get("opening_hours"), errors)
    blackouts = _parse_blackouts(payload.get("blackouts"), errors)
    if not errors and values["min_minutes"] > values["max_minutes"]:
        errors["min_minutes"] = _("must not exceed max_minutes")
    if errors:
        raise ValidationFailed(_("Some rules are invalid: %(f)s.", f=", ".join(sorted(errors))), fields=errors)
    stored = db.session.get(BookingRuleSet, instrument.id) or BookingRuleSet(instrument_id=instrument.id)
    stored.opening_hours = json.dumps(opening)
    for name, value in values.items():
        setattr(stored, name, value)
    stored.needs_confirmation, stored.quota_hours_per_org, stored.updated_by_id = confirm, quota, actor.id
    db.session.add(stored)
    for old in blackouts_of(instrument.id):
        db.session.delete(old)
    db.session.add_all([Blackout(instrument_id=instrument.id, start_at=s, end_at=e, reason=r) for s, e, r in blackouts])
    db.session.flush()
    audit.append("booking_rules.set", actor=actor, organization_id=instrument.owner_id, object_type="instrument",
                 object_id=instrument.id, details={"rules": values | {"needs_confirmation": confirm,
                                                                      "quota_hours_per_org": quota},
                                                   "blackouts": len(blackouts), "opening_windows": len(opening)})

