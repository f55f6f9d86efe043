"""The one source of the current time, so tests can freeze it."""

from datetime import UTC, datetime

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


def local_iso(value: datetime | None) -> str | None:
    """An instant as the API and exports show it: ISO 8601 to the second in the platform's time zone, with its
    offset (docs/api.md: 2026-12-01T09:00:00+08:00)."""
    from zoneinfo import ZoneInfo

    from flask import current_app

    if value is None:
        return None
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).isoformat(timespec="seconds")


def local_today(tz_name: str | None = None):
    """Today's date in the platform's time zone (Asia/Shanghai by default)."""
    from zoneinfo import ZoneInfo

    if tz_name is None:
        try:
            from flask import current_app

            tz_name = current_app.config["TIMEZONE"]
        except RuntimeError:
            tz_name = "Asia/Shanghai"
    return now_utc().astimezone(ZoneInfo(tz_name)).date()
