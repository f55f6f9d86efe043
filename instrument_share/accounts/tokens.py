"""Personal access tokens for the JSON API."""

from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select, update
from sqlalchemy.orm import joinedload

from ..audit import chain as audit
from ..core.clock import now_utc
from ..core.errors import NotFound, ValidationFailed
from ..db import db
from . import secrets
from .models import ApiToken, User
from .roles import OrgStatus

TOKEN_PREFIX = "isk_"  # noqa: S105  a public marker, not a secret
# "Last used" on the profile page is kept to within this step, so a busy script does not write on every call.
LAST_USED_STEP = timedelta(minutes=1)


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    name = (name or "").strip() or _("API token")
    if len(name) > 100:
        raise ValidationFailed(_("The token name is too long."), fields={"name": _("at most 100 characters")})
    secret, digest = secrets.new_token(TOKEN_PREFIX)
    token = ApiToken(user_id=user.id, name=name, token_hash=digest, prefix=secret[:10],
                     expires_at=now_utc() + timedelta(days=current_app.config["API_TOKEN_DAYS"]))
    db.session.add(token)
    db.session.flush()
    audit.append("token.created", actor=user, object_type="api_token", object_id=token.id, details={"name": name})
    return token, secret


def revoke_token(user: User, token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        raise NotFound(_("No such token."))
    token.revoked_at = now_utc()
    audit.append("token.revoked", actor=user, object_type="api_token", object_id=token.id)
    return token


def user_tokens_query(user: User):
    return select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None),
                                  ApiToken.expires_at > now_utc()).order_by(ApiToken.id)


def user_tokens(user: User) -> list[ApiToken]:
    return list(db.session.scalars(user_tokens_query(user)))


def revoke_all(user_ids) -> int:
    """Revoke every live token of these users (suspension, auth.end_access): reinstating them later revives none."""
    ids = list(user_ids)
    if not ids:
        return 0
    return db.session.execute(update(ApiToken).where(ApiToken.user_id.in_(ids), ApiToken.revoked_at.is_(None))
                              .values(revoked_at=now_utc()).execution_options(synchronize_session=False)).rowcount


def live_token(secret: str) -> ApiToken | None:
    """The live token with this secret whose user may act (enabled, organisation not suspended), or None."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    # The user, organisation and roles every API request reads, in the same round trip.
    token = db.session.scalars(select(ApiToken).where(ApiToken.token_hash == secrets.token_hash(secret)).options(
        joinedload(ApiToken.user).joinedload(User.organization),
        joinedload(ApiToken.user).joinedload(User.role_grants))).unique().one_or_none()
    if token is None or token.revoked_at is not None or token.expires_at <= now_utc():
        return None
    user = token.user
    if user.is_disabled or user.organization.status == OrgStatus.suspended:
        return None
    return token


def use_is_stale(token: ApiToken) -> bool:
    return token.last_used_at is None or token.last_used_at <= now_utc() - LAST_USED_STEP


def note_use(token: ApiToken) -> None:
    """Record that the token was used now (in the caller's transaction); a concurrent request may have done so."""
    now = now_utc()
    db.session.execute(update(ApiToken).where(
        ApiToken.id == token.id, or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_STEP))
        .values(last_used_at=now).execution_options(synchronize_session=False))
    token.last_used_at = now
