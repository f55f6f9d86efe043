"""Reading typed values out of request text (query strings, JSON strings), refusing bad ones with the field named.

Shared by the API and the features that parse their own query strings (catalogue search), so a whole number or a
time with an offset is refused with the same message everywhere.
"""

from collections.abc import Mapping
from datetime import datetime

from flask_babel import gettext as _

from .core.errors import ValidationFailed
from .db import MAX_ID


def int_arg(args: Mapping[str, str], name: str, default: int | None = None, *, minimum: int = 1,
            maximum: int | None = None) -> int | None:
    """`args[name]` as a whole number in [minimum, maximum] (at most MAX_ID, what an INTEGER column holds)."""
    raw = args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationFailed(_("%(name)s must be a whole number.", name=name), fields={name: _("whole number")}) \
            from exc
    if not minimum <= value <= (maximum if maximum is not None else MAX_ID):
        raise ValidationFailed(_("%(name)s is out of range.", name=name), fields={name: _("out of range")})
    return value


def aware_time(raw: str, name: str) -> datetime:
    """An ISO 8601 time that carries its offset; a time without one is ambiguous and refused."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValidationFailed(_("Times are ISO 8601 with an offset, e.g. 2026-12-01T09:00:00+08:00."),
                               fields={name: _("ISO 8601 time with offset")})
    return value
