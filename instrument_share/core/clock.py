"""The one source of the current time, so tests can freeze it, and of the platform's time zone."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"  # config.TIMEZONE's default; used outside an application (scripts, imports)

_frozen: datetime | None = None


def now_utc() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def freeze(at: datetime | None) -> None:
    """Pin the clock (tests and replays); None releases it."""
    global _frozen
    if at is not None and at.tzinfo is None:
        raise ValueError("freeze() needs an aware datetime")
    _frozen = at.astimezone(UTC) if at is not None else None


def local_zone() -> ZoneInfo:
    """The platform's time zone: the application's TIMEZONE setting, Asia/Shanghai outside an application.

    Local dates (days, weeks, quarters) and the times people type and read are in this zone; instants are
    stored in UTC.
    """
    try:
        from flask import current_app  # imported here: core stays usable without Flask

        name = current_app.config["TIMEZONE"]
    except RuntimeError:  # no application context
        name = DEFAULT_TIMEZONE
    return ZoneInfo(name)


def local_iso(value: datetime | None) -> str | None:
    """An instant as the API and exports show it: ISO 8601 to the second in the platform's time zone, with its
    offset (docs/api.md: 2026-12-01T09:00:00+08:00)."""
    if value is None:
        return None
    return value.astimezone(local_zone()).isoformat(timespec="seconds")


def local_today(tz_name: str | None = None):
    """Today's date in the platform's time zone (or in the zone named)."""
    return now_utc().astimezone(ZoneInfo(tz_name) if tz_name else local_zone()).date()
