"""Idempotency-Key handling (draft-ietf-httpapi-idempotency-key-header): one effect per key and body.

The key is claimed in its own short transaction before the work, so a duplicate that arrives while the first is
still running is told 409; the answer is stored in the same transaction as the effect, so a retry after completion
gets exactly that answer; the same key with another body is refused with 422.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..core.clock import now_utc
from ..core.errors import Conflict, ValidationFailed
from ..db import db
from .models import IdempotencyRecord


@dataclass
class Replay:
    status: int
    body: dict


def body_hash(raw: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(raw or b"{}"), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = raw
    return hashlib.sha256(canonical).hexdigest()


def claim(user_id: int, key: str, digest: str) -> Replay | None:
    """Claim the key, or return the stored answer to replay; raise 409 while in flight, 422 on another body."""
    if not key or len(key) > 255:
        raise ValidationFailed(_("The Idempotency-Key must be 1–255 characters."),
                               fields={"Idempotency-Key": _("1–255 characters")})
    for _attempt in range(2):
        try:
            with db.transaction() as session:
                record = session.scalars(select(IdempotencyRecord).where(
                    IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key).with_for_update()).first()
                if record is None:
                    session.add(IdempotencyRecord(user_id=user_id, key=key, request_hash=digest))
                    session.flush()
                    return None
                if record.request_hash != digest:
                    raise ValidationFailed(_("This Idempotency-Key was used with a different request."),
                                           code="idempotency_key_reused")
                if record.status_code is not None:
                    return Replay(record.status_code, json.loads(record.response_body))
                abandoned_after = timedelta(seconds=current_app.config["IDEMPOTENCY_IN_FLIGHT_SECONDS"])
                if record.created_at > now_utc() - abandoned_after:
                    raise Conflict(_("A request with this Idempotency-Key is still being processed."),
                                   code="request_in_flight")
                record.created_at = now_utc()  # the first attempt died; this one takes over
                return None
        except IntegrityError:
            continue  # a concurrent first request inserted the key; read it again
    raise Conflict(_("A request with this Idempotency-Key is still being processed."), code="request_in_flight")


def store(user_id: int, key: str, status: int, body: dict) -> None:
    """Record the answer in the caller's transaction (the same one as the effect)."""
    record = db.session.scalars(select(IdempotencyRecord).where(
        IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)).first()
    record.status_code, record.response_body = status, json.dumps(body, ensure_ascii=False)


def release(user_id: int, key: str) -> None:
    """Forget a claim whose request failed unexpectedly, so the client may retry."""
    with db.transaction():
        db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id,
                                                           IdempotencyRecord.key == key,
                                                           IdempotencyRecord.status_code.is_(None)))
