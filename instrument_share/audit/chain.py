"""Append to and verify the audit chain.

Each entry stores the previous entry's hash and its own SHA-256 over a canonical JSON form of its fields and
that previous hash. Appends are serialised (SQLite BEGIN IMMEDIATE; PostgreSQL advisory lock) so concurrent
writers never fork the chain.
"""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import has_request_context, request
from sqlalchemy import select

from ..core.clock import now_utc
from ..db import db
from .models import AuditEntry

GENESIS_HASH = "0" * 64
AUDIT_LOCK_KEY = 0x41554449  # "AUDI": the advisory lock that serialises appends on PostgreSQL


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _time_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(entry: AuditEntry) -> str:
    body = {
        "seq": entry.seq, "at": _time_text(entry.at), "actor_id": entry.actor_id, "actor_name": entry.actor_name,
        "organization_id": entry.organization_id, "action": entry.action, "object_type": entry.object_type,
        "object_id": entry.object_id, "outcome": entry.outcome, "remote_addr": entry.remote_addr,
        "details": entry.details, "prev_hash": entry.prev_hash,
    }
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def append(action: str, *, actor=None, organization_id: int | None = None, object_type: str | None = None,
           object_id=None, outcome: str = "success", details: dict | None = None,
           remote_addr: str | None = None) -> AuditEntry:
    """Add an entry to the chain inside the caller's transaction (never commits)."""
    session = db.session()
    db.lock(AUDIT_LOCK_KEY)
    head = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    entry = AuditEntry(
        seq=(head.seq + 1) if head else 1,
        at=now_utc(),
        actor_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "username", None),
        organization_id=organization_id if organization_id is not None else getattr(actor, "organization_id", None),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        outcome=outcome,
        remote_addr=remote_addr or (request.remote_addr if has_request_context() else None),
        details=canonical_json(details or {}),
        prev_hash=head.hash if head else GENESIS_HASH,
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_broken_seq: int | None
    problem: str | None = None


def verify_entries(entries: Iterable[AuditEntry]) -> VerifyResult:
    """Walk the chain from genesis and name the first entry that does not fit."""
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    for entry in entries:
        count += 1
        if entry.seq != expected_seq:
            # A deleted entry shows as a gap, an inserted or reordered one as a jump; both are at expected_seq.
            return VerifyResult(False, count, expected_seq, "sequence gap or reorder")
        if entry.prev_hash != prev_hash:
            return VerifyResult(False, count, entry.seq, "previous hash does not match")
        if entry_hash(entry) != entry.hash:
            return VerifyResult(False, count, entry.seq, "entry content does not match its hash")
        prev_hash, expected_seq = entry.hash, expected_seq + 1
    return VerifyResult(True, count, None)


def verify(batch_size: int = 5000) -> VerifyResult:
    """Verify the whole stored chain, streaming it in batches.

    populate_existing: entries this session already holds (appended earlier by a long-lived process) are re-read
    from the database, so a change made behind the platform's back is seen, not the remembered original.
    """
    session = db.session()
    stmt = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=batch_size,
                                                                         populate_existing=True)
    # Closed even when the walk stops early at a broken entry: on PostgreSQL the stream is a server-side cursor.
    with session.scalars(stmt) as entries:
        return verify_entries(entries)
