"""Append to and verify the audit chain.

Each entry stores the previous entry's hash and its own SHA-256 over a canonical JSON form of its fields and
that previous hash. Appends are serialised (SQLite BEGIN IMMEDIATE; PostgreSQL advisory lock) so concurrent
writers never fork the chain. A chain cut short at its end still links, so verification also checks the daily
anchors (audit/anchors.py) and any head the operator kept: each must still be in the chain with its hash.
"""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from flask import has_request_context, request
from sqlalchemy import select

from ..core.clock import now_utc
from ..db import db
from .models import AuditAnchor, AuditEntry

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
class Checkpoint:
    """An entry the chain must still hold with this hash: a stored daily anchor (with its day) or a head the
    operator kept elsewhere (`flask audit verify --expect-head`, no day). seq 0 stands for the empty chain."""

    seq: int
    hash: str
    day: date | None = None


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    entries: int
    first_broken_seq: int | None
    problem: str | None = None
    head_seq: int | None = None  # the stored chain's last entry (None when it is empty)
    head_hash: str | None = None
    anchors_checked: int = 0
    anchor_mismatch: Checkpoint | None = None  # the first checkpoint the chain does not hold


# The problems verification names (in English for the command line and the API; the page translates them).
GAP, PREVIOUS, CONTENT = ("sequence gap or reorder", "previous hash does not match",
                          "entry content does not match its hash")
ANCHOR_DIFFERS, ANCHOR_BEYOND_HEAD = "entry does not match its anchor", "chain ends before an anchored entry"


def verify_entries(entries: Iterable[AuditEntry], checkpoints: Iterable[Checkpoint] = ()) -> VerifyResult:
    """Walk the chain from genesis and name the first entry that does not fit.

    Each checkpoint must name an entry of the chain with the same hash: one that differs is a rewritten entry,
    one beyond the last entry a cut-off tail (which the chain alone cannot show: a shorter chain still links).
    """
    pending: dict[int, list[Checkpoint]] = {}
    for point in sorted(checkpoints, key=lambda c: c.seq):
        pending.setdefault(point.seq, []).append(point)
    checked = 0

    def differing(seq: int, hash_: str) -> Checkpoint | None:
        nonlocal checked
        for point in pending.pop(seq, ()):
            checked += 1
            if point.hash != hash_:
                return point
        return None

    if bad := differing(0, GENESIS_HASH):
        return VerifyResult(False, 0, 0, ANCHOR_DIFFERS, anchors_checked=checked, anchor_mismatch=bad)
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    for entry in entries:
        count += 1
        if entry.seq != expected_seq:
            # A deleted entry shows as a gap, an inserted or reordered one as a jump; both are at expected_seq.
            return VerifyResult(False, count, expected_seq, GAP, anchors_checked=checked)
        if entry.prev_hash != prev_hash:
            return VerifyResult(False, count, entry.seq, PREVIOUS, anchors_checked=checked)
        if entry_hash(entry) != entry.hash:
            return VerifyResult(False, count, entry.seq, CONTENT, anchors_checked=checked)
        if bad := differing(entry.seq, entry.hash):
            return VerifyResult(False, count, entry.seq, ANCHOR_DIFFERS, anchors_checked=checked,
                                anchor_mismatch=bad)
        prev_hash, expected_seq = entry.hash, expected_seq + 1
    head_seq, head_hash = (expected_seq - 1, prev_hash) if count else (None, None)
    if pending:  # checkpoints beyond the last entry: the tail was deleted
        beyond = pending[min(pending)][0]
        checked += sum(len(points) for points in pending.values())
        return VerifyResult(False, count, expected_seq, ANCHOR_BEYOND_HEAD, head_seq, head_hash, checked, beyond)
    return VerifyResult(True, count, None, None, head_seq, head_hash, checked)


def verify(batch_size: int = 5000, expected: Iterable[Checkpoint] = ()) -> VerifyResult:
    """Verify the whole stored chain, streaming it in batches, against every stored anchor and `expected`.

    populate_existing: entries this session already holds (appended earlier by a long-lived process) are re-read
    from the database, so a change made behind the platform's back is seen, not the remembered original.
    """
    session = db.session()
    # Read before the entries: an anchor names an entry written before it, so the walk below will reach it.
    stored = session.execute(select(AuditAnchor.day, AuditAnchor.seq, AuditAnchor.hash)).all()
    checkpoints = [Checkpoint(row.seq, row.hash, row.day) for row in stored] + list(expected)
    stmt = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=batch_size,
                                                                         populate_existing=True)
    # Closed even when the walk stops early at a broken entry: on PostgreSQL the stream is a server-side cursor.
    with session.scalars(stmt) as entries:
        result = verify_entries(entries, checkpoints)
    if result.head_seq is None:  # the walk stopped early (or found nothing): report the stored head anyway
        head = session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc())
                               .limit(1)).first()
        if head is not None:
            result = replace(result, head_seq=head.seq, head_hash=head.hash)
    return result
