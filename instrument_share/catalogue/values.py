"""Check and convert the values a provider writes into an instrument (forms, API and bulk import alike)."""

from datetime import date

from flask_babel import gettext as _

from ..db import db
from .fields import FIELDS_BY_NAME, ServiceMode
from .models import InstrumentCategory


class FieldErrors(Exception):
    def __init__(self, fields: dict[str, str]):
        super().__init__(", ".join(fields))
        self.fields = fields


def _text(field, value):
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(_("text expected"))
    value = value.strip()
    if len(value) > field.max_length:
        raise ValueError(_("at most %(n)d characters", n=field.max_length))
    return value or None


def _date(_field, value):
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError(_("a date like 2024-05-31 expected"))
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValueError(_("a date like 2024-05-31 expected")) from exc


def _fen(_field, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(_("a whole number of fen expected"))
    if value < 0:
        raise ValueError(_("must not be negative"))
    if value > 10**15:
        raise ValueError(_("too large"))
    return value


def _category(_field, value):
    if value in (None, ""):
        return None
    category = db.session.get(InstrumentCategory, value.strip()) if isinstance(value, str) else None
    if category is None or not category.is_active:
        raise ValueError(_("unknown category code"))
    return value.strip()


def _modes(_field, value):
    if value in (None, ""):
        return ""
    items = value.replace("，", ",").split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError(_("a list of service modes expected"))
    modes = []
    for item in items:
        try:
            mode = ServiceMode(str(item).strip())
        except ValueError as exc:
            raise ValueError(_("unknown service mode %(m)s", m=item)) from exc
        if mode.value not in modes:
            modes.append(mode.value)
    return ",".join(m.value for m in ServiceMode if m.value in modes)


CONVERTERS = {"text": _text, "longtext": _text, "date": _date, "fen": _fen, "category": _category, "modes": _modes}


def clean(values: dict, *, partial: bool) -> dict:
    """Return converted values or raise FieldErrors naming every bad field; unknown fields are refused."""
    errors: dict[str, str] = {}
    cleaned: dict = {}
    for name, raw in values.items():
        field = FIELDS_BY_NAME.get(name)
        if field is None:
            errors[name] = _("unknown or read-only field")
            continue
        try:
            cleaned[name] = CONVERTERS[field.kind](field, raw)
        except ValueError as exc:
            errors[name] = str(exc)
    if not partial:
        for field in FIELDS_BY_NAME.values():
            if field.required and cleaned.get(field.name) in (None, "") and field.name not in errors:
                errors[field.name] = _("required")
    else:
        for name, value in cleaned.items():
            if FIELDS_BY_NAME[name].required and value in (None, ""):
                errors[name] = _("required")
    if errors:
        raise FieldErrors(errors)
    return cleaned
