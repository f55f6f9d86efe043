"""The single scheduler process (`flask scheduler run`); web workers never start it."""

import logging

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from .jobs import JOBS, run_job

log = logging.getLogger(__name__)


def build_scheduler(app: Flask) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone=app.config["TIMEZONE"])
    for job in JOBS:
        scheduler.add_job(run_job, IntervalTrigger(seconds=job.interval_seconds), args=(app, job), id=job.name,
                          name=job.name, coalesce=True, max_instances=1, misfire_grace_time=job.interval_seconds)
    return scheduler


def run_forever(app: Flask) -> None:
    scheduler = build_scheduler(app)
    # Run everything once at start so a restart catches up at once instead of waiting a full interval.
    for job in JOBS:
        run_job(app, job)
    log.info("scheduler started with jobs: %s", ", ".join(j.name for j in JOBS))
    scheduler.start()
