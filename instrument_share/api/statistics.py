"""Open-sharing statistics (docs/api.md "Service records, revenue, ratings": GET /statistics)."""

from datetime import timedelta

from flask import jsonify, request
from flask_babel import gettext as _

from ..core.clock import local_today
from ..core.errors import ValidationFailed
from ..reporting import snapshots, statistics
from ..reporting.access import check_scope, public_level
from ..reporting.disclosure import CITY, node_of
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


_NUMBER = {"type": "integer"}
FIGURES = ("effective_minutes", "external_minutes", "sharing_rate_bp", "revenue_fen", "external_users", "services",
           "external_services", "samples", "payments_fen", "refunds_fen", "charges_fen", "rating_count")
RESPONSE = {
    "type": "object",
    "required": ["year", "quarter", "from", "to", "suppressed"],
    "properties": {
        **dict.fromkeys(FIGURES, _NUMBER),
        "rating_avg": {"type": ["number", "null"]},
        "year": {"type": ["integer", "null"]}, "quarter": {"type": ["integer", "null"]},
        "from": {"type": ["string", "null"], "format": "date"}, "to": {"type": ["string", "null"], "format": "date"},
        "indicators": {"type": "object"},
        "suppressed": {"type": "boolean", "description": (
            "true: some city or district figures are withheld from the public and absent (with the indicators "
            "built from them): those built from fewer than PUBLIC_STATS_MIN_UNITS provider units (default 3), "
            "counted per measure (services, ledger, ratings), and those that would let such figures be worked "
            "out. The commission and unit-level readers always get false.")},
    },
}


@operation("/statistics", "GET", "Open-sharing statistics for a period (city level public; a unit's or an "
           "instrument's for its operators and the commission; a user organisation's for its users)",
           tag="statistics", auth="optional",
           query=[("unit_id", "integer"), ("instrument_id", "integer"), ("organization_id", "integer"),
                  ("district", "string"), ("year", "integer"), ("quarter", "integer")], response=RESPONSE)
def get_statistics():
    scope = statistics.Scope(unit_id=query_int("unit_id"), instrument_id=query_int("instrument_id"),
                             organization_id=query_int("organization_id"), district=_district())
    year = query_int("year", minimum=MIN_YEAR, maximum=MAX_YEAR)
    quarter = query_int("quarter", minimum=1, maximum=4)
    chosen = period(year, quarter)
    actor = current_api_user()
    check_scope(actor, scope)
    body = {"year": chosen.year, "quarter": chosen.quarter,
            "from": chosen.start.isoformat() if chosen.start else None,
            "to": (chosen.end - timedelta(days=1)).isoformat() if chosen.end else None}  # inclusive
    if public_level(actor, scope):
        area = CITY if scope.district is None else scope.district
        shown = snapshots.public_cube(local_today()).get(area, node_of(chosen.year, chosen.quarter))
        if shown is None:
            return jsonify(body | {"suppressed": True})
        body |= shown.as_json() | {"indicators": shown.indicators(scope), "suppressed": bool(shown.withheld)}
    else:
        figures = statistics.totals(scope, chosen)
        body |= figures.as_json() | {"indicators": statistics.indicators(figures, scope), "suppressed": False}
    body.pop("rating_sum", None)
    return jsonify(body)
