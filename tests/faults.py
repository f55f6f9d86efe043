"""The fault-injection harness: real gunicorn workers under load (tests/faults_load.py) while faults are injected,
then the checks and one table of figures.

Used by tests/security/test_faults.py (the short run in the suite) and bench/faults.py (the long documented run).

Faults: SIGKILL of a gunicorn worker (every `kill_every` seconds), one `pg_ctl restart -m fast` on PostgreSQL, one
disk-full episode on SQLite (tests/faults_app.py explains how the workers' database becomes full). Afterwards every
write acknowledged with 2xx must be in the database, nothing may exist twice, the audit chain must verify, no answer
may be a 5xx other than 503 (and every 503 carries the JSON error body, or is an error page for page requests), the
gunicorn log must show no 500, and after each fault a write must have succeeded again within RECOVERY_LIMIT.
"""

import os
import random
import re
import signal
import sqlite3
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from . import contention
from .faults_load import TZ, Call, Load, Person, World, sign_in

RECOVERY_LIMIT = 30.0  # seconds from the end of a fault to the first successful write


# ------------------------------------------------------------------------------------------------ the data


def prepare(factory, *, users: int, run: str) -> World:
    """Provider units with instruments open every day, eligible enterprises with an SME user per virtual user, an
    operator per virtual user, and this year's voucher policy, all made through the real services."""
    from instrument_share.bookings import ruleset
    from instrument_share.db import db
    from instrument_share.vouchers import policies

    from .catalogue_support import civilian_unit, publish_civilian
    from .factories import PASSWORD, valid_uscc
    from .voucher_support import sme_profile

    units = [civilian_unit(factory, with_headers=False) for _ in range(2)]
    instruments = []
    for n in range(max(2, users // 4)):
        unit = units[n % len(units)]
        instrument = publish_civilian(unit, service_modes=["machine_time", "sample_testing"])
        with db.transaction():
            ruleset.set_rules(actor=db.session.merge(unit.operator), instrument=db.session.merge(instrument),
                              payload=contention.RULES | {"max_horizon_days": 365})
        instruments.append((instrument.id, unit))
    enterprises = [factory.org("enterprise", uscc=valid_uscc(region="320100"), sme=sme_profile())
                   for _ in range(max(2, users // 4))]
    people = []
    for i in range(users):
        instrument_id, unit = instruments[i % len(instruments)]
        org = enterprises[i % len(enterprises)]
        sme = factory.user(org, ("sme_user",))
        operator = factory.user(unit.org, ("provider_operator",))
        people.append(Person(factory.token(sme), factory.token(operator), sme.username, PASSWORD, org.id,
                             instrument_id))
    officer = factory.user(factory.org("commission"), ("commission_officer",), totp=True)
    year = datetime.now(TZ).year
    with db.transaction():
        policy = policies.create_policy(actor=db.session.merge(officer), data={
            "year": year, "valid_from": f"{year}-01-01", "valid_to": f"{year}-12-31", "budget_fen": 10**14,
            "enterprise_annual_cap_fen": 10**13})
    t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)  # after every listing was published
    return World(people, [i for i, _unit in instruments], policy.id, contention.first_day(), t0, run)


# ------------------------------------------------------------------------------------------------ faults


@dataclass
class Fault:
    kind: str  # worker_kill | pg_restart | disk_full
    started: float
    ended: float
    detail: str = ""


class Injector(threading.Thread):
    """Injects the planned faults at their offsets (seconds from `began`)."""

    def __init__(self, plan: list[tuple[float, str]], *, began: float, server: contention.Server, cluster=None,
                 sqlite_path: Path | None = None, flag: Path | None = None, full_seconds: float = 10):
        super().__init__(daemon=True)
        self.plan, self.began, self.server, self.cluster = sorted(plan), began, server, cluster
        self.sqlite_path, self.flag, self.full_seconds = sqlite_path, flag, full_seconds
        self.faults: list[Fault] = []
        self.errors: list[str] = []

    def run(self) -> None:
        for at, kind in self.plan:
            time.sleep(max(0.0, self.began + at - time.monotonic()))
            try:
                self.faults.append(getattr(self, kind)())
            except Exception as exc:  # reported with the figures; the run goes on
                self.errors.append(f"{kind}: {exc!r}")

    def worker_kill(self) -> Fault:
        workers = worker_pids(self.server.proc.pid)
        victim = random.choice(workers)
        now = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        return Fault("worker_kill", now, now, f"pid {victim} of {len(workers)} workers")

    def pg_restart(self) -> Fault:
        started = time.monotonic()
        self.cluster.restart()
        return Fault("pg_restart", started, time.monotonic(), "pg_ctl restart -m fast")

    def disk_full(self) -> Fault:
        with sqlite3.connect(self.sqlite_path) as conn:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
        started = time.monotonic()
        temp = self.flag.with_suffix(".tmp")
        temp.write_text(str(pages))
        temp.replace(self.flag)  # the workers never read half a number
        time.sleep(self.full_seconds)
        self.flag.unlink()
        return Fault("disk_full", started, time.monotonic(), f"max_page_count={pages} for {self.full_seconds:.0f} s")


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def fault_plan(seconds: float, *, kill_every: float, database_fault_at: float, database_fault: str,
               first_kill: float | None = None) -> list[tuple[float, str]]:
    plan = [(database_fault_at, database_fault)]
    at = first_kill if first_kill is not None else kill_every
    while at < seconds:
        plan.append((at, "worker_kill"))
        at += kill_every
    return plan


# ------------------------------------------------------------------------------------------------ a run


@dataclass
class Run:
    load: Load
    faults: list[Fault]
    injector_errors: list[str]
    log: str


def run(url: str, world: World, *, seconds: float, workers: int, plan: list[tuple[float, str]], work: Path,
        cluster=None, full_seconds: float = 10) -> Run:
    """Serve the application with gunicorn on `url`, drive it for `seconds` while the plan's faults happen."""
    flag = work / "full-flag"
    server = contention.start_servers(url, servers=1, workers=workers, log_dir=work, app="tests.faults_app:app",
                                      env={"FAULTS_FULL_FLAG": str(flag)},
                                      args=("--access-logfile", "-"))[0]
    try:
        for person in world.people:
            sign_in(server.port, person)
        load = Load(server.port, world, seconds=seconds)
        sqlite_path = Path(url.split("///", 1)[1]) if url.startswith("sqlite") else None
        injector = Injector(plan, began=load.began, server=server, cluster=cluster, sqlite_path=sqlite_path,
                            flag=flag, full_seconds=full_seconds)
        injector.start()
        load.run()
        injector.join(120)
    finally:
        contention.stop_servers([server])
    return Run(load, injector.faults, injector.errors, server.log.read_text(errors="replace"))


# ------------------------------------------------------------------------------------------------ the checks


@dataclass
class Figures:
    backend: str
    seconds: float
    users: int
    requests: int = 0
    ok_2xx: int = 0
    client_4xx: Counter = field(default_factory=Counter)
    unavailable_503: int = 0
    unavailable_503_in_faults: int = 0
    malformed_503: int = 0
    other_5xx: Counter = field(default_factory=Counter)
    no_answer: int = 0
    log_500: int = 0
    faults: list[Fault] = field(default_factory=list)
    injector_errors: list[str] = field(default_factory=list)
    acknowledged: Counter = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    half_written: list[str] = field(default_factory=list)
    unresolved_keys: int = 0
    recovery: list[tuple[str, float | None]] = field(default_factory=list)
    chain_ok: bool = False
    chain_entries: int = 0

    def problems(self, *, recovery: bool = True) -> list[str]:
        """The invariants of the run that do not hold (empty when all hold); `recovery`: also the time limit."""
        out = []
        if self.other_5xx or self.log_500:
            out.append(f"5xx other than 503: {dict(self.other_5xx)}; 500 in the gunicorn log: {self.log_500}")
        if self.malformed_503:
            out.append(f"503 without the JSON error body: {self.malformed_503}")
        if self.lost:
            out.append(f"acknowledged writes lost: {self.lost[:5]}")
        if self.duplicates:
            out.append(f"duplicates: {self.duplicates[:5]}")
        if self.half_written:
            out.append(f"half-written: {self.half_written[:5]}")
        if not self.chain_ok:
            out.append("audit chain does not verify")
        if self.injector_errors:
            out.append(f"faults not injected: {self.injector_errors}")
        slow = [(kind, s) for kind, s in self.recovery if s is None or s > RECOVERY_LIMIT]
        if recovery and slow:
            out.append(f"no successful write within {RECOVERY_LIMIT:.0f} s after: {slow}")
        return out

    def summary(self) -> str:
        """One line of the figures the reliability report quotes (scripts/reliability_report.py reads it)."""
        kinds = Counter(f.kind for f in self.faults)
        slowest = max((s for _kind, s in self.recovery if s is not None), default=0.0)
        never = sum(s is None for _kind, s in self.recovery)
        return (f"faults ({self.backend}, {self.seconds:.0f} s, {self.users} users): requests {self.requests}, "
                f"faults injected {sum(kinds.values())} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}), "
                f"acknowledged writes {sum(self.acknowledged.values())}, lost {len(self.lost)}, "
                f"duplicated {len(self.duplicates)}, half-written {len(self.half_written)}, "
                f"5xx other than 503 {sum(self.other_5xx.values()) + self.log_500}, 503 {self.unavailable_503} "
                f"(without the error body {self.malformed_503}), slowest recovery {slowest:.1f} s"
                f"{f' ({never} never)' if never else ''}, audit chain {'OK' if self.chain_ok else 'BROKEN'}")

    def table(self) -> str:
        fault_counts = Counter(f.kind for f in self.faults)
        recovery = ", ".join(f"{kind} {s:.1f}" if s is not None else f"{kind} never" for kind, s in self.recovery)
        rows = [
            ("backend", f"{self.backend}, {self.users} users, {self.seconds:.0f} s"),
            ("requests", self.requests),
            ("2xx", self.ok_2xx),
            ("4xx by code", ", ".join(f"{k} {v}" for k, v in sorted(self.client_4xx.items())) or "0"),
            ("503 (during a fault window)", f"{self.unavailable_503} ({self.unavailable_503_in_faults})"),
            ("503 without the JSON error body", self.malformed_503),
            ("5xx other", sum(self.other_5xx.values())),
            ("500 in the gunicorn log", self.log_500),
            ("no answer (connection dropped or refused)", self.no_answer),
            ("faults injected", ", ".join(f"{k} {v}" for k, v in sorted(fault_counts.items())) or "0"),
            ("acknowledged writes", ", ".join(f"{k} {v}" for k, v in sorted(self.acknowledged.items()))),
            ("acknowledged writes lost", len(self.lost)),
            ("duplicates", len(self.duplicates)),
            ("half-written", len(self.half_written)),
            ("bookings given up while in flight", self.unresolved_keys),
            ("recovery seconds per fault", recovery or "-"),
            ("audit chain", f"{'OK' if self.chain_ok else 'BROKEN'} ({self.chain_entries} entries)"),
        ]
        width = max(len(name) for name, _value in rows)
        lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
        rule = "-" * max(len(line) for line in lines)
        return "\n".join([rule, *lines, rule])


ACCESS_5XX = re.compile(r'"\s(5\d\d)\s')


def figures(result: Run, *, backend: str, seconds: float) -> Figures:
    """Every check; runs inside an application context on the run's database."""
    load = result.load
    fig = Figures(backend, seconds, len(load.world.people), faults=result.faults,
                  injector_errors=result.injector_errors, unresolved_keys=len(load.unresolved_keys))
    _responses(fig, load.calls, result.faults)
    fig.log_500 = sum(1 for m in ACCESS_5XX.finditer(result.log) if m.group(1) != "503") + \
        result.log.count("Error handling request") + result.log.count("unhandled error on")
    fig.recovery = [(f.kind, _recovery(load.calls, f)) for f in result.faults]
    _database(fig, load)
    return fig


def _responses(fig: Figures, calls: list[Call], faults: list[Fault]) -> None:
    windows = [(f.started - 1, f.ended + 1) for f in faults]  # a second's grace: requests in flight at the edges
    fig.requests = len(calls)
    for c in calls:
        if c.status == 0:
            fig.no_answer += 1
        elif c.status < 300:
            fig.ok_2xx += 1
        elif c.status < 500:
            fig.client_4xx[f"{c.status} {c.error}"] += 1
        elif c.status == 503:
            fig.unavailable_503 += 1
            fig.malformed_503 += not c.well_formed
            fig.unavailable_503_in_faults += any(s <= c.ended and c.started <= e for s, e in windows)
        else:
            fig.other_5xx[c.status] += 1


def _recovery(calls: list[Call], fault: Fault) -> float | None:
    done = [c.ended for c in calls if c.write and 200 <= c.status < 300 and c.started >= fault.ended]
    return min(done) - fault.ended if done else None


def _database(fig: Figures, load: Load) -> None:
    from sqlalchemy import func, select

    from instrument_share.audit import chain
    from instrument_share.bookings.models import Booking
    from instrument_share.db import db
    from instrument_share.ledger.models import RevenueEntry, ServiceRecord
    from instrument_share.vouchers.models import VoucherClaim, VoucherEvidence

    db.session.rollback()
    models = {"booking": Booking, "record": ServiceRecord, "payment": RevenueEntry, "claim": VoucherClaim,
              "evidence": VoucherEvidence, "submitted": VoucherClaim}
    answered: dict[str, set[int]] = {}
    for ack in load.acks:
        fig.acknowledged[ack.kind] += 1
        row = db.session.get(models[ack.kind], ack.id)
        if row is None:
            fig.lost.append(f"{ack.kind} {ack.id}")
        elif ack.kind == "booking" and (row.instrument_id, row.start_at) != (ack.detail["instrument_id"],
                                                                            ack.detail["start"]):
            fig.lost.append(f"booking {ack.id} is not the one of key {ack.key}")
        elif ack.kind == "payment" and row.payment_ref != ack.key:
            fig.lost.append(f"payment {ack.id} is not {ack.key}")
        elif ack.kind == "submitted" and row.status in ("draft", "withdrawn"):
            fig.lost.append(f"claim {ack.id} acknowledged as submitted is {row.status}")
        if ack.kind == "booking":
            answered.setdefault(ack.key, set()).add(ack.id)
    # One key, one effect: every 2xx answer to a key names the same booking, and no slot holds two bookings.
    fig.duplicates += [f"key {k} answered with bookings {sorted(ids)}" for k, ids in answered.items() if len(ids) > 1]
    instruments = load.world.instruments
    for groups, what in (
        (select(Booking.instrument_id, Booking.start_at).where(Booking.instrument_id.in_(instruments))
         .group_by(Booking.instrument_id, Booking.start_at), "bookings of one slot"),
        (select(ServiceRecord.instrument_id, ServiceRecord.actual_start).where(
            ServiceRecord.instrument_id.in_(instruments)).group_by(ServiceRecord.instrument_id,
                                                                   ServiceRecord.actual_start),
         "service records of one request"),
        (select(RevenueEntry.payment_ref).where(RevenueEntry.payment_ref.is_not(None))
         .group_by(RevenueEntry.payment_ref), "payments of one reference"),
        (select(VoucherEvidence.claim_id).group_by(VoucherEvidence.claim_id), "evidence files of one upload"),
        (select(RevenueEntry.service_record_id).where(RevenueEntry.kind == "charge")
         .group_by(RevenueEntry.service_record_id), "charges of one service record"),
    ):
        stmt = groups.add_columns(func.count()).having(func.count() > 1)
        fig.duplicates += [f"{row[-1]} {what}: {tuple(row[:-1])}" for row in db.session.execute(stmt)]
    # Nothing written that no request asked for: every booking on the load's instruments is a key's slot.
    asked = set(load.booking_keys.values())
    fig.duplicates += [f"booking {i} of no request" for i, instrument_id, start in db.session.execute(
        select(Booking.id, Booking.instrument_id, Booking.start_at).where(Booking.instrument_id.in_(instruments)))
        if (instrument_id, start) not in asked]
    # Nothing half-written: a service record with a fee always has its charge (one transaction).
    charged = select(RevenueEntry.service_record_id).where(RevenueEntry.kind == "charge")
    fig.half_written += [f"service record {i} without its charge" for i in db.session.scalars(
        select(ServiceRecord.id).where(ServiceRecord.fee_fen > 0, ServiceRecord.id.not_in(charged)))]
    result = chain.verify()
    fig.chain_ok, fig.chain_entries = result.ok, result.entries
    db.session.rollback()


def new_run_tag() -> str:
    return uuid.uuid4().hex[:8]
