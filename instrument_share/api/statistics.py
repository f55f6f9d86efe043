"""Open-sharing statistics (api.md "Service records, revenue, ratings": GET /statistics)."""

from datetime import timedelta

from flask import jsonify, request
from flask_babel import gettext as _

from ..core.errors import ValidationFailed
from ..reporting import statistics
from ..reporting.access import check_scope
from ..reporting.periods import MAX_YEAR, MIN_YEAR, period
from .core import current_api_user, operation, query_int

DISTRICT_MAX = 60  # the instruments.district column


def _district() -> str | None:
    raw = request.args.get("district")
    if raw in (None, ""):
        return None
    if len(raw) > DISTRICT_MAX:
        raise ValidationFailed(_("district is too long."), fields={"district": _("at most %(n)d characters",
                                                                                  n=DISTRICT_MAX)})
    return raw


@operation("/statistics", "GET", "Open-sharing statistics for a period (city level public; a unit's or an "
           "instrument's for its operators and the commission; a user organisation's for its users)",
           tag="statistics", auth="optional",
           query=[("unit_id", "integer"), ("instrument_id", "integer"), ("organization_id", "integer"),
                  ("district", "string"), ("year", "integer"), ("quarter", "integer")])
def get_statistics():
    scope = statistics.Scope(unit_id=query_int("unit_id"), instrument_id=query_int("instrument_id"),
                             organization_id=query_int("organization_id"), district=_district())
    year = query_int("year", minimum=MIN_YEAR, maximum=MAX_YEAR)
    quarter = query_int("quarter", minimum=1, maximum=4)
    chosen = period(year, quarter)
    check_scope(current_api_user(), scope)
    figures = statistics.totals(scope, chosen)
    body = figures.as_json() | {
        "year": chosen.year, "quarter": chosen.quarter,
        "from": chosen.start.isoformat() if chosen.start else None,
        "to": (chosen.end - timedelta(days=1)).isoformat() if chosen.end else None,  # inclusive
        "indicators": statistics.indicators(figures, scope),
    }
    del body["rating_sum"]
    return jsonify(body)
