"""Periodic jobs: a period is claimed once in the database, a scheduler killed mid-job is taken over exactly once,
`flask scheduler tick` runs the jobs, and only `flask scheduler run` ever starts APScheduler."""

import signal
import threading
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select

from instrument_share.accounts.models import LoginFailure
from instrument_share.audit import chain
from instrument_share.audit.models import AuditEntry
from instrument_share.core import clock
from instrument_share.db import db
from instrument_share.jobs import JOBS
from instrument_share.mail import outbox
from instrument_share.mail.models import OutboxMessage
from instrument_share.scheduler import build_scheduler
from instrument_share.scheduling import claims
from instrument_share.scheduling.models import JobRun

from .._procs import PROCESSES, blocking_scheduler, claim_racer
from ..conftest import make_test_app

PERIOD = "2026-12-01T02:00:00Z"


def effects(period: str | None = None) -> int:
    """How many times the test job's work committed its effect (an audit entry written with the finish mark)."""
    db.session.rollback()
    stmt = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "test.job_effect")
    if period is not None:
        stmt = stmt.where(AuditEntry.object_id == period)
    return db.session.scalar(stmt)


def job_run(job: str, period: str) -> JobRun | None:
    db.session.rollback()
    return db.session.scalars(select(JobRun).where(JobRun.job_name == job, JobRun.period == period)
                              .execution_options(populate_existing=True)).first()


def purge_runs() -> list[str]:
    return db.session.scalars(select(JobRun.period).where(JobRun.job_name == "purge_login_failures")
                              .order_by(JobRun.period)).all()


def effect_work(period: str, calls: list | None = None):
    def work():
        if calls is not None:
            calls.append(period)
        chain.append("test.job_effect", object_type="job_period", object_id=period)
        return "done"

    return work


# ---- claims ------------------------------------------------------------------------------------------------


def test_a_period_is_claimed_once_and_a_second_claimer_gets_none_while_the_lease_runs(app):
    first = claims.claim("report", PERIOD, lease_seconds=60, owner="server-a:1")
    assert first is not None
    assert claims.claim("report", PERIOD, lease_seconds=60, owner="server-b:2") is None
    assert claims.claim("report", PERIOD, lease_seconds=60, owner="server-a:1") is None  # not even by itself
    assert claims.claim("report", "2026-12-01T03:00:00Z", lease_seconds=60, owner="server-b:2") is not None
    assert claims.claim("other_job", PERIOD, lease_seconds=60, owner="server-b:2") is not None
    row = job_run("report", PERIOD)
    assert (row.claimed_by, row.finished_at, row.takeovers) == ("server-a:1", None, 0)
    assert row.lease_expires_at == row.claimed_at + timedelta(seconds=60)


def test_run_once_runs_a_period_once_and_records_its_result(app):
    calls = []
    assert claims.run_once("report", PERIOD, effect_work(PERIOD, calls), lease_seconds=60) is True
    assert claims.run_once("report", PERIOD, effect_work(PERIOD, calls), lease_seconds=60) is False
    assert calls == [PERIOD]
    assert effects(PERIOD) == 1
    row = job_run("report", PERIOD)
    assert row.finished_at is not None and row.result == "done" and row.takeovers == 0


def test_a_finished_period_is_never_taken_over_even_after_its_lease(app):
    assert claims.run_once("report", PERIOD, effect_work(PERIOD), lease_seconds=1)
    clock.freeze(datetime.now(UTC) + timedelta(days=1))
    assert claims.claim("report", PERIOD, lease_seconds=60, owner="late:1") is None
    assert claims.run_once("report", PERIOD, effect_work(PERIOD), lease_seconds=60) is False
    assert effects(PERIOD) == 1


def test_work_that_fails_leaves_the_period_unfinished_and_it_is_retried_after_the_lease(app):
    def failing():
        chain.append("test.job_effect", object_type="job_period", object_id=PERIOD)
        raise RuntimeError("SMTP server down")

    with pytest.raises(RuntimeError):
        claims.run_once("report", PERIOD, failing, lease_seconds=120)
    row = job_run("report", PERIOD)
    assert row.finished_at is None and row.takeovers == 0
    assert effects(PERIOD) == 0  # the failed work's effect rolled back with it
    assert claims.run_once("report", PERIOD, effect_work(PERIOD), lease_seconds=120) is False  # lease still runs
    clock.freeze(row.lease_expires_at + timedelta(seconds=1))
    assert claims.run_once("report", PERIOD, effect_work(PERIOD), lease_seconds=120) is True
    assert effects(PERIOD) == 1
    assert job_run("report", PERIOD).takeovers == 1


# ---- a scheduler killed in the middle of a job -------------------------------------------------------------


@pytest.mark.slow
def test_a_scheduler_killed_mid_job_is_taken_over_once_neither_lost_nor_doubled(app, database_url, tmp_path):
    in_work, owner_out = PROCESSES.Event(), PROCESSES.Queue()
    victim = PROCESSES.Process(target=blocking_scheduler,
                               args=(database_url, tmp_path, "report", PERIOD, 300, in_work, owner_out))
    victim.start()
    try:
        victim_owner = owner_out.get(timeout=120)
        assert in_work.wait(timeout=120), "the scheduler process never reached its work"
        victim.kill()  # SIGKILL while it is inside the work function, its effect written but not committed
        victim.join(timeout=30)
    finally:
        if victim.is_alive():
            victim.kill()
            victim.join()
    assert victim.exitcode == -signal.SIGKILL

    # The claim survives, unfinished; the effect the dead process wrote never committed.
    row = job_run("report", PERIOD)
    assert row.claimed_by == victim_owner != claims.owner_name()
    assert (row.finished_at, row.takeovers) == (None, 0)
    assert effects(PERIOD) == 0

    # While its lease runs nobody else may take the period.
    calls = []
    assert claims.run_once("report", PERIOD, effect_work(PERIOD, calls), lease_seconds=300) is False
    assert calls == []

    # Once the lease has expired (the clock is moved past it, no sleeping) the period is taken over once.
    clock.freeze(row.lease_expires_at + timedelta(seconds=1))
    assert claims.run_once("report", PERIOD, effect_work(PERIOD, calls), lease_seconds=300) is True
    row = job_run("report", PERIOD)
    assert row.takeovers == 1
    assert row.claimed_by == claims.owner_name()
    assert row.finished_at is not None and row.result == "done"
    assert effects(PERIOD) == 1

    # A third run, even much later, does nothing.
    clock.freeze(row.lease_expires_at + timedelta(hours=1))
    assert claims.run_once("report", PERIOD, effect_work(PERIOD, calls), lease_seconds=300) is False
    assert calls == [PERIOD]
    assert effects(PERIOD) == 1
    assert job_run("report", PERIOD).takeovers == 1
    assert chain.verify().ok


@pytest.mark.slow
def test_competing_scheduler_processes_run_every_period_exactly_once(app, database_url, tmp_path):
    periods = [f"2026-12-01T{h:02d}:00:00Z" for h in range(6)]
    start, results = PROCESSES.Barrier(3), PROCESSES.Queue()  # all begin together, once every one is ready
    procs = [PROCESSES.Process(target=claim_racer, args=(database_url, tmp_path, "report", periods, start, results))
             for _ in range(3)]
    for p in procs:
        p.start()
    try:
        reports = [results.get(timeout=180) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert [err for _won, err in reports if err] == []
    won = sorted(period for report, _err in reports for period in report)
    assert won == periods  # every period run, none twice
    for period in periods:
        assert effects(period) == 1
        row = job_run("report", period)
        assert row.finished_at is not None and row.takeovers == 0


# ---- the scheduler process and its jobs -------------------------------------------------------------------


def test_flask_scheduler_tick_runs_each_job_once_per_period(app, factory, frozen_clock):
    user = factory.user()
    with db.transaction():
        outbox.enqueue("first@example.cn", "Hello", "reset_password", user=user, link="http://localhost/x")
        db.session.add(LoginFailure(user_id=user.id, failed_at=frozen_clock.now - timedelta(minutes=20)))
        db.session.add(LoginFailure(user_id=user.id, failed_at=frozen_clock.now - timedelta(minutes=5)))
    runner = app.test_cli_runner()

    result = runner.invoke(args=["scheduler", "tick"])
    assert result.exit_code == 0, result.output
    db.session.remove()
    assert [m.status for m in factory.outbox()] == ["sent"]
    failures = db.session.scalars(select(LoginFailure.failed_at)).all()
    assert failures == [frozen_clock.now - timedelta(minutes=5)]  # only the expired counter was cleared
    period = claims.period_key(3600)
    purge = job_run("purge_login_failures", period)
    assert purge.finished_at is not None and purge.result == "1"

    # A second tick in the same hour: the purge period is done and is not run again; new mail is still sent.
    with db.transaction():
        db.session.add(LoginFailure(user_id=user.id, failed_at=frozen_clock.now - timedelta(hours=2)))
        outbox.enqueue("second@example.cn", "Hello again", "reset_password", user=user, link="http://localhost/y")
    assert runner.invoke(args=["scheduler", "tick"]).exit_code == 0
    db.session.remove()
    assert [m.status for m in factory.outbox()] == ["sent", "sent"]
    assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == 2
    assert purge_runs() == [period]

    # The next hour is a new period; ticking only that job leaves the outbox alone.
    frozen_clock.move(hours=1)
    with db.transaction():
        outbox.enqueue("third@example.cn", "Later", "reset_password", user=user, link="http://localhost/z")
    assert runner.invoke(args=["scheduler", "tick", "purge_login_failures"]).exit_code == 0
    db.session.remove()
    assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == 0
    assert purge_runs() == [period, claims.period_key(3600)] != [period, period]
    assert [m.status for m in factory.outbox()] == ["sent", "sent", "pending"]


def test_build_scheduler_registers_every_job_with_its_interval(app):
    scheduler = build_scheduler(app)
    assert not scheduler.running
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {job.name for job in JOBS} >= {"send_outbox", "purge_login_failures"}
    for spec in JOBS:
        job = jobs[spec.name]
        assert isinstance(job.trigger, IntervalTrigger)
        assert job.trigger.interval == timedelta(seconds=spec.interval_seconds)
        assert job.max_instances == 1 and job.coalesce is True
        assert job.args == (app, spec)


@pytest.fixture
def scheduler_starts(monkeypatch):
    """Record every APScheduler start instead of blocking (the scheduler's own loop is not under test)."""
    started = []
    monkeypatch.setattr(BaseScheduler, "start", lambda self, *a, **kw: started.append(self))
    return started


def test_create_app_and_requests_never_start_apscheduler(app, database_url, tmp_path, scheduler_starts):
    threads_before = {t.name for t in threading.enumerate()}
    other = make_test_app(database_url, tmp_path)
    with other.app_context():
        assert other.test_client().get("/").status_code == 200
        assert other.test_cli_runner().invoke(args=["scheduler", "tick"]).exit_code == 0
    assert scheduler_starts == []
    new_threads = {t.name for t in threading.enumerate()} - threads_before
    assert not any("APScheduler" in name for name in new_threads)


def test_flask_scheduler_run_starts_the_one_scheduler_after_a_catch_up_run(app, factory, scheduler_starts):
    user = factory.user()
    with db.transaction():
        outbox.enqueue("catchup@example.cn", "Hello", "reset_password", user=user, link="http://localhost/x")
    result = app.test_cli_runner().invoke(args=["scheduler", "run"])
    assert result.exit_code == 0, result.output
    assert len(scheduler_starts) == 1
    assert {job.id for job in scheduler_starts[0].get_jobs()} == {job.name for job in JOBS}
    db.session.remove()
    assert db.session.scalar(select(OutboxMessage.status)) == "sent"  # every job ran once at start
    assert job_run("purge_login_failures", claims.period_key(3600)) is not None


def test_a_claim_lost_between_claiming_and_working_does_not_run_the_work(app, monkeypatch):
    """Scheduler A claims, stalls past its lease, scheduler B takes the period over and finishes it; when A
    resumes it must notice from the database that the period is no longer its own."""
    original_claim = claims.claim

    def claim_then_stall(job_name, period, **kwargs):
        run = original_claim(job_name, period, **kwargs)
        # A stalls here (a long GC pause, a suspended VM) until its lease has expired; B, another process with
        # its own connection, takes the period over and finishes it.
        clock.freeze(run.lease_expires_at + timedelta(seconds=1))
        with db.engine.begin() as other:
            other.execute(JobRun.__table__.update().where(JobRun.id == run.id).values(
                claimed_by="server-b:2", claimed_at=clock.now_utc(), takeovers=JobRun.takeovers + 1,
                finished_at=clock.now_utc(), result="done by B"))
        return run

    monkeypatch.setattr(claims, "claim", claim_then_stall)
    calls = []
    assert claims.run_once("report", PERIOD, effect_work(PERIOD, calls), lease_seconds=60) is False
    assert calls == []
    row = job_run("report", PERIOD)
    assert (row.claimed_by, row.result, row.takeovers) == ("server-b:2", "done by B", 1)

    # The same when A's claim was itself a takeover of a dead scheduler's period (the row existed already).
    dead = original_claim("report", "2026-12-01T03:00:00Z", lease_seconds=60, owner="server-x:9")
    clock.freeze(dead.lease_expires_at + timedelta(seconds=1))
    assert claims.run_once("report", "2026-12-01T03:00:00Z", effect_work("T03", calls), lease_seconds=60) is False
    assert calls == []
    row = job_run("report", "2026-12-01T03:00:00Z")
    assert (row.claimed_by, row.result, row.takeovers) == ("server-b:2", "done by B", 2)
