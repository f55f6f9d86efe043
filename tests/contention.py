"""The booking contention harness: real gunicorn servers, many concurrent HTTP clients, one instrument.

Used by tests/bookings/test_booking_contention.py (the short run in the test suite) and bench/booking_contention.py
(the long documented run). The slots are grouped: every attempt of a group contains the group's middle half hour,
so any two attempts of one group overlap, while the groups themselves lie back to back (half-open, so they never
clash). Hence exactly one attempt per group may win and every other one must get 409 booking_conflict naming the
winner.
"""

import contextlib
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"  # the one installed beside the running interpreter
TZ = ZoneInfo("Asia/Shanghai")
GROUPS_PER_DAY = 5  # two-hour groups from 08:00 to 18:00
# Rules of the contended instrument: open every day 08:00-18:00, no notice, so real-clock servers accept the slots.
RULES = {"opening_hours": [{"weekday": d, "start": "08:00", "end": "18:00"} for d in range(7)],
         "min_notice_hours": 0, "max_horizon_days": 120, "min_minutes": 30, "max_minutes": 240,
         "granularity_minutes": 30, "needs_confirmation": True}
OVERLAP_SQL = text(
    "SELECT count(*) FROM bookings a JOIN bookings b ON a.instrument_id = b.instrument_id AND a.id < b.id "
    "WHERE a.status IN ('pending', 'confirmed') AND b.status IN ('pending', 'confirmed') "
    "AND a.hold_start IS NOT NULL AND b.hold_start IS NOT NULL "
    "AND a.hold_start < b.hold_end AND b.hold_start < a.hold_end")


# ------------------------------------------------------------------------------------------------ servers


@dataclass
class Server:
    port: int
    proc: subprocess.Popen
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_servers(database_url: str, *, servers: int, workers: int, log_dir: Path,
                  app: str = "tests.contention_app:app", env: dict | None = None,
                  args: tuple[str, ...] = ()) -> list[Server]:
    """Start gunicorn servers on ports the kernel picks (bound to port 0 and read back from the log, so no other
    process can take the port between choosing and binding it), without the shared control socket. `env` and
    `args` add environment variables and gunicorn options."""
    env = os.environ | {"DATABASE_URL": database_url, "SECRET_KEY": "contention-secret-key",
                        "SESSION_COOKIE_SECURE": "0", "DATABASE_POOL_SIZE": "2", "PYTHONDONTWRITEBYTECODE": "1"} \
        | (env or {})
    started = []
    try:
        for i in range(servers):
            log = log_dir / f"gunicorn-{i}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [str(GUNICORN), "-w", str(workers), "-b", "127.0.0.1:0", "--timeout", "60",
                     "--graceful-timeout", "5", "--no-control-socket", *args, app],
                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            started.append(Server(0, proc, log))
        for server in started:
            server.port = listening_port(server)
        wait_ready(started)
    except BaseException:
        stop_servers(started)
        raise
    return started


def listening_port(server: Server, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", server.tail(200))
        if match:
            return int(match.group(1))
        if server.proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not start listening:\n{server.tail()}")


def wait_ready(servers: list[Server], timeout: float = 90) -> None:
    """Until every server answers; then a few more requests so that most workers have loaded the application."""
    deadline = time.monotonic() + timeout
    for server in servers:
        while True:
            if server.proc.poll() is not None:
                raise RuntimeError(f"gunicorn on port {server.port} exited:\n{server.tail()}")
            try:
                status, _body = request(server.port, "GET", "/api/v1/categories", timeout=5)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn on port {server.port} did not answer:\n{server.tail()}")
            time.sleep(0.2)

    def warm_up(port: int) -> None:
        with contextlib.suppress(OSError):  # only a warm-up
            request(port, "GET", "/api/v1/categories", timeout=30)

    warm = [threading.Thread(target=warm_up, args=(s.port,)) for s in servers for _ in range(8)]
    for t in warm:
        t.start()
    for t in warm:
        t.join(60)


def stop_servers(servers: list[Server]) -> None:
    """Stop each gunicorn master we started (it stops its workers); kill it if it does not go."""
    for server in servers:
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGTERM)
    for server in servers:
        try:
            server.proc.wait(15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(5)


def request(port: int, method: str, path: str, body: dict | None = None, headers: dict | None = None,
            timeout: float = 60) -> tuple[int, dict | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"} | (headers or {}))
        response = conn.getresponse()
        raw = response.read()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = {"raw": raw[:200].decode(errors="replace")}
        return response.status, data
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class Attempt:
    group: int
    start: datetime
    end: datetime


def group_windows(groups: int, first_day) -> list[tuple[datetime, datetime]]:
    """Back-to-back two-hour windows, five a day from 08:00, starting on the local date `first_day`."""
    out = []
    for g in range(groups):
        day = first_day + timedelta(days=g // GROUPS_PER_DAY)
        start = datetime.combine(day, dtime(8), TZ) + timedelta(hours=2 * (g % GROUPS_PER_DAY))
        out.append((start, start + timedelta(hours=2)))
    return out


def plan(attempts: int, groups: int, first_day, seed: int = 4) -> list[Attempt]:
    """`attempts` overlapping requests spread evenly over the groups, in bursts of one group at a time.

    In a group [w, w + 2 h) with middle m = w + 1 h every attempt starts at w or w + 30 min and ends at m + 30 min or
    w + 2 h, so every two attempts share [m - 30 min, m + 30 min)."""
    rng = random.Random(seed)
    out = []
    for g, (window_start, _end) in enumerate(group_windows(groups, first_day)):
        count = attempts // groups + (1 if g < attempts % groups else 0)
        for _ in range(count):
            start = window_start + timedelta(minutes=rng.choice((0, 30)))
            end = window_start + timedelta(minutes=rng.choice((90, 120)))
            out.append(Attempt(g, start, end))
    return out


# ------------------------------------------------------------------------------------------------ firing


@dataclass
class Outcome:
    attempt: Attempt
    status: int  # 0: no HTTP answer at all
    body: dict | None
    seconds: float


@dataclass
class Report:
    outcomes: list[Outcome]
    groups: int
    elapsed: float
    winners: dict[int, list[Outcome]] = field(default_factory=dict)

    def __post_init__(self):
        self.winners = defaultdict(list)
        for o in self.outcomes:
            if o.status == 201:
                self.winners[o.attempt.group].append(o)

    @property
    def statuses(self) -> Counter:
        return Counter(o.status for o in self.outcomes)

    @property
    def server_errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status >= 500 or o.status == 0]

    @property
    def losers(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != 201]

    def bad_losers(self) -> list[Outcome]:
        """Losers not answered 409 booking_conflict naming exactly the group's winner."""
        bad = []
        for o in self.losers:
            winner = self.winners.get(o.attempt.group)
            expected = [{"start": winner[0].body["start"], "end": winner[0].body["end"]}] if winner else None
            if o.status != 409 or (o.body or {}).get("error") != "booking_conflict" or \
                    o.body.get("conflicts") != expected:
                bad.append(o)
        return bad

    def groups_without_exactly_one_winner(self) -> dict[int, int]:
        return {g: len(self.winners.get(g, [])) for g in range(self.groups) if len(self.winners.get(g, [])) != 1}

    def summary(self) -> str:
        times = sorted(o.seconds for o in self.outcomes)
        median = times[len(times) // 2] * 1000 if times else 0
        p95 = times[int(len(times) * 0.95) - 1] * 1000 if times else 0
        return (f"attempts={len(self.outcomes)} groups={self.groups} winners={sum(map(len, self.winners.values()))} "
                f"losers={len(self.losers)} 409={self.statuses.get(409, 0)} 5xx={len(self.server_errors)} "
                f"statuses={dict(sorted(self.statuses.items()))} elapsed={self.elapsed:.1f}s "
                f"rate={len(self.outcomes) / self.elapsed:.0f}/s latency median={median:.0f}ms p95={p95:.0f}ms")


def fire(ports: list[int], tokens: list[str], instrument_id: int, attempts: list[Attempt],
         clients: int = 32) -> Report:
    """`clients` threads, each with its own bearer token and server (round robin), work through the attempts in
    order; they all start at one barrier."""
    queue = list(reversed(attempts))
    lock = threading.Lock()
    outcomes: list[Outcome] = []
    barrier = threading.Barrier(clients)

    def client(i: int) -> None:
        headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
        port = ports[i % len(ports)]
        barrier.wait(60)
        while True:
            with lock:
                if not queue:
                    return
                attempt = queue.pop()
            body = {"instrument_id": instrument_id, "mode": "machine_time", "start": attempt.start.isoformat(),
                    "end": attempt.end.isoformat()}
            began = time.perf_counter()
            try:
                status, answer = request(port, "POST", "/api/v1/bookings", body, headers)
            except (OSError, http.client.HTTPException) as exc:  # no HTTP answer: counted, never lost
                status, answer = 0, {"exception": repr(exc)}
            with lock:
                outcomes.append(Outcome(attempt, status, answer, time.perf_counter() - began))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    groups = max((a.group for a in attempts), default=-1) + 1
    return Report(outcomes, groups, time.perf_counter() - began)


def overlapping_pairs(connection) -> int:
    """The final check, in SQL: pairs of holding bookings of one instrument whose holds overlap."""
    return connection.execute(OVERLAP_SQL).scalar()


def holding_count(connection, instrument_id: int) -> int:
    return connection.execute(text("SELECT count(*) FROM bookings WHERE instrument_id = :i AND status IN "
                                   "('pending', 'confirmed')"), {"i": instrument_id}).scalar()


# ------------------------------------------------------------------------------------------------ data


def prepare(factory, *, users: int = 32, orgs: int = 8) -> tuple[int, list[str]]:
    """A published instrument with the contention rules, and bearer tokens of `users` sme_users in `orgs`
    enterprises (made through the real services, inside the caller's application context)."""
    from instrument_share.bookings import ruleset
    from instrument_share.db import db

    from .catalogue_support import civilian_unit, publish_civilian

    unit = civilian_unit(factory, with_headers=False)
    instrument = publish_civilian(unit, service_modes=["machine_time"])
    with db.transaction():
        ruleset.set_rules(actor=db.session.merge(unit.operator), instrument=db.session.merge(instrument),
                          payload=RULES)
    enterprises = [factory.org() for _ in range(orgs)]
    tokens = [factory.token(factory.user(enterprises[i % orgs], ("sme_user",))) for i in range(users)]
    return instrument.id, tokens


def first_day():
    """The first local date of the plan: the day after tomorrow, by the real clock the servers use."""
    return datetime.now(TZ).date() + timedelta(days=2)
