"""Claim a job's period in the database so a period runs once, even across restarts and several schedulers.

A claim holds a lease. A scheduler killed mid-job leaves its claim unfinished; once the lease expires the next
run takes it over, so the period is neither lost nor run twice (the work and the finish mark commit together).
"""

import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..core.clock import now_utc
from ..db import db
from .models import JobRun


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def period_key(interval_seconds: int, at: datetime | None = None) -> str:
    """The start of the fixed period that `at` falls in, as text (UTC)."""
    at = at or now_utc()
    start = int(at.timestamp()) // interval_seconds * interval_seconds
    return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def claim(job_name: str, period: str, *, lease_seconds: int, owner: str | None = None) -> JobRun | None:
    """Take the period (or take over an expired claim); None when it is done or someone else holds it."""
    owner = owner or owner_name()
    try:
        with db.transaction() as session:
            now = now_utc()
            # populate_existing: decide on the stored row, not on a copy this session loaded earlier.
            run = session.scalars(select(JobRun).where(JobRun.job_name == job_name, JobRun.period == period)
                                  .with_for_update().execution_options(populate_existing=True)).first()
            if run is None:
                run = JobRun(job_name=job_name, period=period, claimed_by=owner, claimed_at=now,
                             lease_expires_at=now + timedelta(seconds=lease_seconds))
                session.add(run)
                session.flush()
                return run
            if run.finished_at is not None or run.lease_expires_at > now:
                return None
            run.claimed_by, run.claimed_at = owner, now
            run.lease_expires_at = now + timedelta(seconds=lease_seconds)
            run.takeovers += 1
            return run
    except IntegrityError:  # another scheduler inserted the same period first (PostgreSQL)
        return None


def run_once(job_name: str, period: str, work: Callable[[], object], *, lease_seconds: int) -> bool:
    """Run `work` for the period if this process wins the claim; the work and the finish commit together."""
    run = claim(job_name, period, lease_seconds=lease_seconds)
    if run is None:
        return False
    mine = (run.claimed_by, run.claimed_at)
    with db.transaction() as session:
        # Re-read the stored row (the session still holds `run` itself, which would always look like ours).
        current = session.scalars(select(JobRun).where(JobRun.id == run.id).with_for_update()
                                  .execution_options(populate_existing=True)).one()
        if (current.claimed_by, current.claimed_at) != mine or current.finished_at is not None:
            return False  # our lease expired and another process took the period over
        result = work()
        current.finished_at = now_utc()
        current.result = None if result is None else str(result)[:2000]
    return True
