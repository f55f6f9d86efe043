"""Changing a listing's stored values and logging it: shared by the civilian life cycle (listings.py) and the
defence review (defence.py), so both validate, apply and log a change the same way."""

from flask_babel import gettext as _

from ..audit import chain as audit
from ..core.clock import now_utc
from ..core.errors import ValidationFailed
from .models import Instrument
from .values import FieldErrors, clean


def cleaned_values(values: dict, *, partial: bool) -> dict:
    """The submitted values checked and converted (values.clean), or a refusal naming the invalid fields."""
    try:
        return clean(values, partial=partial)
    except FieldErrors as exc:
        raise ValidationFailed(_("Some values are invalid: %(f)s.", f=", ".join(sorted(exc.fields))),
                               fields=exc.fields) from exc


def apply_changes(instrument: Instrument, changes: dict) -> None:
    for name, value in changes.items():
        setattr(instrument, name, value)
    instrument.updated_at = now_utc()


def log_instrument(action: str, actor, instrument: Instrument, **details) -> None:
    # Field names only: restricted values of defence listings never go into the log.
    audit.append(action, actor=actor, organization_id=instrument.owner_id, object_type="instrument",
                 object_id=instrument.id, details=details)
