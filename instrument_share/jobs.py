"""The periodic jobs and their intervals: the one place that wires every feature's due work to the scheduler.

It sits above the features (it imports them all), beside cli.py; scheduling/ below them keeps only the claim of a
period (job_runs), which features such as audit anchors and catalogue imports use themselves.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from flask import Flask

from .accounts import holders, lockout
from .audit import anchors as audit_anchors
from .bookings import lifecycle
from .catalogue import defence, import_runner
from .mail import outbox
from .reporting import generation as operation_reports
from .reporting import snapshots as statistics_snapshots
from .scheduling.claims import period_key, run_once
from .vouchers import jobs as voucher_jobs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    interval_seconds: int
    work: Callable[[], object]
    # Frequent item-by-item jobs manage their own small transactions and are idempotent per item.
    claimed: bool = True


def defence_approvals() -> str:
    warned = defence.warn_expiring()
    expired = defence.expire_due()
    return f"warned={warned} expired={expired}"


JOBS: list[Job] = [
    Job("send_outbox", 30, outbox.send_due, claimed=False),
    # Queued catalogue imports: each job is claimed under its own lease (catalogue/import_runner.py), so unclaimed.
    Job("catalogue_imports", 5, import_runner.run_due, claimed=False),
    Job("purge_login_failures", 3600, lockout.purge),
    # Hourly, so a listing is suspended within the hour its approval ends (local calendar day).
    Job("defence_approvals", 3600, defence_approvals),
    # Item by item, each in its own transaction and idempotent, so they run unclaimed every minute.
    Job("auto_reject_bookings", 60, lifecycle.auto_reject_due, claimed=False),
    Job("mark_no_shows", 60, lifecycle.mark_no_shows, claimed=False),
    Job("booking_reminders", 300, lifecycle.send_reminders, claimed=False),
    # Claim by claim, each in its own transaction and idempotent.
    Job("withdraw_stale_returned_claims", 3600, voucher_jobs.withdraw_stale_returned, claimed=False),
    # Hourly: the first run of a quarter makes the previous quarter's reports; later runs find nothing missing. It
    # aggregates outside the write transaction and stores idempotently, so it runs unclaimed.
    Job("quarterly_reports", 3600, operation_reports.generate_due, claimed=False),
    # Every minute it checks the stored city-wide figures and recomputes them once STATISTICS_SNAPSHOT_SECONDS old
    # (or on a new local day); it aggregates outside the write transaction and replaces rows, so it runs unclaimed.
    Job("statistics_snapshot", 60, statistics_snapshots.refresh_due, claimed=False),
    # Hourly: anchors yesterday's audit chain head once. It claims its period itself in job_runs, keyed by the
    # local day rather than by a UTC hour, so the day ends at Asia/Shanghai midnight.
    Job("audit_anchor", 3600, partial(audit_anchors.anchor_due, holders.audit_admins), claimed=False),
]


def run_job(app: Flask, job: Job) -> None:
    with app.app_context():
        try:
            if job.claimed:
                run_once(job.name, period_key(job.interval_seconds), job.work,
                         lease_seconds=app.config["SCHEDULER_LEASE_SECONDS"])
            else:
                job.work()
        except Exception:  # a failing job must not stop the scheduler; the next period retries
            log.exception("job %s failed", job.name)
