"""Instrument objects as the API and exports show them, always through visibility.project."""

import json
from datetime import date, datetime

from ..core.clock import local_iso
from .fields import Visibility
from .models import Instrument
from .visibility import Viewer, project, viewer_level


def _jsonable(value):
    if isinstance(value, datetime):
        return local_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def instrument_json(instrument: Instrument, viewer: Viewer) -> dict:
    level = viewer_level(viewer, instrument.owner_id)
    data = {k: _jsonable(v) for k, v in project(instrument, level).items()}
    if level == Visibility.hidden:
        # The unit and its approvers see the approval record, the review state and any pending revision.
        if instrument.approval_no:
            data["approval"] = {"approval_no": instrument.approval_no,
                                "approved_on": _jsonable(instrument.approved_on),
                                "valid_until": _jsonable(instrument.valid_until)}
        if instrument.is_defence:
            data["field_visibility"] = json.loads(instrument.field_visibility or "{}")
            data["review"] = {"passed": instrument.review_passed_at is not None,
                              "comment": instrument.review_comment}
        if instrument.status_reason:
            data["status_reason"] = instrument.status_reason
        revision = instrument.pending_revision
        if revision is not None:
            data["pending_revision"] = {"id": revision.id, "status": revision.status,
                                        "changes": json.loads(revision.changes),
                                        "review_passed": revision.review_passed_at is not None,
                                        "review_comment": revision.review_comment}
    return data
