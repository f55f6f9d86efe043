"""The catalogue search as a query string states it (?q=…&district=…&sort=…): one parser for the search page, its
export and the JSON API, so the three accept and refuse exactly the same arguments."""

from collections.abc import Mapping

from flask_babel import gettext as _

from ..accounts.roles import OrgKind
from ..arguments import int_arg
from ..core.errors import ValidationFailed
from .fields import ServiceMode
from .search import SearchParams

SORTS = ("relevance", "newest", "name", "value", "fee")


def _bool_arg(args: Mapping[str, str], name: str) -> bool | None:
    raw = args.get(name)
    if raw in (None, ""):
        return None
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise ValidationFailed(_("%(name)s must be true or false.", name=name), fields={name: _("true or false")})


def _choice_arg(args: Mapping[str, str], name: str, allowed) -> str | None:
    raw = args.get(name) or None
    if raw is not None and raw not in allowed:
        raise ValidationFailed(_("Unknown value of %(name)s.", name=name), fields={name: ", ".join(allowed)})
    return raw


def search_params_from_args(args: Mapping[str, str]) -> SearchParams:
    sort = args.get("sort") or "relevance"
    if sort not in SORTS:
        raise ValidationFailed(_("Unknown sort order."), fields={"sort": _("relevance, newest, name, value or fee")})
    service_mode = _choice_arg(args, "service_mode", [m.value for m in ServiceMode])
    owner_kind = _choice_arg(args, "owner_kind", [k.value for k in OrgKind])
    return SearchParams(
        q=(args.get("q") or "")[:100], category_code=args.get("category_code") or None,
        district=args.get("district") or None, region=args.get("region") or None,
        owner_kind=owner_kind, service_mode=service_mode,
        fee_max_fen=int_arg(args, "fee_max_fen", minimum=0), large=_bool_arg(args, "large"),
        defence=_bool_arg(args, "defence"), sort=sort, page=int_arg(args, "page", 1, maximum=10**9),
        per_page=int_arg(args, "per_page", 20, maximum=100))
