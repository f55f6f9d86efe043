"""API plumbing: bearer-token authentication, JSON body parsing, and the operation registry behind OpenAPI."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Blueprint, g, request
from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import OperationalError

from ..accounts import tokens
from ..accounts.roles import Role
from ..arguments import int_arg
from ..core.errors import DomainError, NotAuthenticated, PermissionDenied, ValidationFailed
from ..db import db

api_bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)


@dataclass
class Operation:
    path: str
    method: str
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    auth: str = "required"  # required | optional | basic
    status: int = 200
    query: list[tuple[str, str]] = field(default_factory=list)
    endpoint: str = ""
    # The success body, documented: a pydantic model (a named schema) or an inline JSON Schema; None: any object.
    response: type[BaseModel] | dict | None = None
    # Error codes the operation answers beyond the generic ones: {status: {code: what it means}} (OpenAPI examples).
    errors: dict[int, dict[str, str]] = field(default_factory=dict)
    upload: str | None = None  # the multipart field of an operation that takes one file instead of JSON


OPERATIONS: list[Operation] = []


def operation(path: str, method: str, summary: str, *, tag: str, body: type[BaseModel] | None = None,
              auth: str = "required", status: int = 200, query: list[tuple[str, str]] | None = None,
              response: type[BaseModel] | dict | None = None, errors: dict[int, dict[str, str]] | None = None,
              upload: str | None = None) -> Callable:
    """Register a route on the API blueprint and describe it for the OpenAPI document."""

    def decorator(fn: Callable) -> Callable:
        endpoint = f"{fn.__name__}_{method.lower()}"
        api_bp.add_url_rule(path, endpoint=endpoint, view_func=fn, methods=[method])
        OPERATIONS.append(Operation(path, method, summary, tag, body, auth, status, query or [], endpoint, response,
                                    errors or {}, upload))
        return fn

    return decorator


class MalformedRequest(DomainError):
    status = 400
    code = "malformed_json"


@api_bp.before_request
def authenticate_bearer() -> None:
    """Only a bearer token authorises an API call; a session cookie never does."""
    g.api_user = None
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        token = tokens.live_token(header[7:].strip())
        if token is None:
            raise NotAuthenticated(_("The bearer token is invalid, expired or revoked."), code="invalid_token")
        if tokens.use_is_stale(token):  # shown as "last used" on the profile page
            try:
                with db.transaction():
                    tokens.note_use(token)
            except OperationalError:  # bookkeeping only: a database refusing writes (full disk) must not fail reads
                log.warning("could not record the use of API token %s", token.id, exc_info=True)
        g.api_user = token.user


def current_api_user():
    return g.get("api_user")


def require_user(*roles: Role):
    user = current_api_user()
    if user is None:
        raise NotAuthenticated(_("A bearer token is required."))
    if roles and not user.has_role(*roles):
        raise PermissionDenied(_("Your roles do not allow this."))
    return user


def _field_path(loc) -> str:
    return ".".join(str(part) for part in loc if part != "__root__") or "body"


def _bad_text(text: str) -> bool:
    """NUL characters and lone surrogates are valid in JSON but no database can store them."""
    return "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text)


def _unstorable_text(value, path: str = "") -> dict[str, str]:
    problems: dict[str, str] = {}
    if isinstance(value, str):
        if _bad_text(value):
            problems[path or "body"] = _("NUL characters and unpaired surrogates are not allowed")
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _bad_text(str(key)):
                problems[path or "body"] = _("NUL characters and unpaired surrogates are not allowed")
            else:
                problems |= _unstorable_text(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems |= _unstorable_text(item, f"{path}.{index}" if path else str(index))
    return problems


def parse_body(model: type[BaseModel], *, allow_empty: bool = False) -> BaseModel:
    """Parse the JSON body: unreadable JSON is 400, wrong values are 422 naming each field."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if not allow_empty:
            raise MalformedRequest(_("A JSON body is required."))
        payload = {}
    else:
        try:
            payload = request.get_json(force=True, silent=False)
        except Exception as exc:
            raise MalformedRequest(_("The body is not valid JSON.")) from exc
    if not isinstance(payload, dict):
        raise MalformedRequest(_("The body must be a JSON object."))
    if unstorable := _unstorable_text(payload):
        raise ValidationFailed(_("Some values are invalid: %(f)s.", f=", ".join(sorted(unstorable))),
                               fields=unstorable)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = {_field_path(err["loc"]): err["msg"] for err in exc.errors()}
        raise ValidationFailed(_("Some values are invalid: %(f)s.", f=", ".join(sorted(fields))),
                               fields=fields) from exc


def query_int(name: str, default: int | None = None, *, minimum: int = 1, maximum: int | None = None) -> int | None:
    return int_arg(request.args, name, default, minimum=minimum, maximum=maximum)


def paginate(stmt, serialize: Callable, session) -> dict:
    from sqlalchemy import func, select

    page = query_int("page", 1, maximum=10**9)
    per_page = query_int("per_page", 20, maximum=100)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": [serialize(r) for r in rows], "page": page, "per_page": per_page, "total": total}
