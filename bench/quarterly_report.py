"""Benchmark the quarterly operation report (issue 5): 20,000 instruments and 1,000,000 service records.

Usage: .venv/bin/python bench/quarterly_report.py [--instruments 20000] [--records 1000000] [--units 400]
       [--only sqlite|postgresql] [--reset] [--sqlite-file PATH] [--pg-url URL] [--reuse]

Fills a temporary SQLite file and, when --pg-url or DATABASE_URL names one, a PostgreSQL database (an empty one;
--reset empties its public schema first) with provider units, user organisations, instruments, service records
and their ledger entries (a charge and a payment for every record, a refund for 1 %, a rating for 20 %), written
by bulk inserts (executemany on SQLite, COPY on PostgreSQL), every service in the reported quarter (the worst case:
the whole million is aggregated). Then it times what the scheduled job does for that quarter: the platform report
and every unit's report, each as CSV and XLSX, stored with an audit entry, in one transaction. Target ≤ 20 s.
--reuse measures again on databases filled before (the SQLite one given by --sqlite-file), after removing the
reports stored by the previous run. Prints a table (wall time, this process's CPU time and the load average, as
the machine may be shared); asserts nothing about time.
"""

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalogue_search import DISTRICTS, already_filled, make_app, migrate, prepare_postgres

YEAR, QUARTER = 2026, 3
Q_START, Q_DAYS = date(2026, 7, 1), 92
CORES = ["液相色谱仪", "扫描电子显微镜", "核磁共振波谱仪", "X射线衍射仪", "拉曼光谱仪", "流式细胞仪", "热重分析仪",
         "电化学工作站", "原子力显微镜", "万能材料试验机"]


def _uscc(n: int, entity: str) -> str:
    from instrument_share.core.uscc import check_character

    first17 = f"{entity}320100MB{n:07d}"
    return first17 + check_character(first17)


class Writer:
    """Bulk rows into a table: executemany on SQLite, COPY on PostgreSQL (one raw connection, one transaction)."""

    def __init__(self, engine):
        self.raw = engine.raw_connection()
        self.pg = engine.dialect.name == "postgresql"

    def rows(self, table: str, columns: list[str], rows) -> None:
        cur = self.raw.cursor()
        if self.pg:
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns)
            batch = []
            for row in rows:
                batch.append(tuple(self._sqlite(v) for v in row))
                if len(batch) == 50_000:
                    cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", batch)  # noqa: S608
                    batch.clear()
            if batch:
                cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", batch)  # noqa: S608
        cur.close()

    @staticmethod
    def _sqlite(value):
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores naive UTC on SQLite
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, bool):
            return int(value)
        return value

    def finish(self, tables: list[str]) -> None:
        cur = self.raw.cursor()
        if self.pg:
            for table in tables:  # explicit ids were written: move the sequences past them
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608
        self.raw.commit()
        cur.execute("ANALYZE")
        self.raw.commit()
        self.raw.close()


class _Counter:
    def __init__(self, rows):
        self.rows, self.n = rows, 0

    def __iter__(self):
        for row in self.rows:
            self.n += 1
            yield row


def fill(engine, args, rng: random.Random) -> dict:
    now = datetime.now(UTC).replace(tzinfo=None)
    w = Writer(engine)
    if not w.pg:
        w.raw.cursor().execute("BEGIN")
    units, smes = list(range(1, args.units + 1)), list(range(args.units + 1, args.units + args.smes + 1))
    org_cols = ["id", "name", "uscc", "kind", "region_code", "dishonest", "status", "created_at", "verified_at"]
    w.rows("organizations", org_cols,
           [(i, f"测试提供单位{i}", _uscc(i, "12"), rng.choice(["university", "research_institute", "key_lab"]),
             "320100", False, "verified", now, now) for i in units]
           + [(i, f"南京测试科技有限公司{i}", _uscc(i, "91"), "enterprise", "320100", False, "verified", now, now)
              for i in smes])
    user_cols = ["id", "username", "email", "password_hash", "organization_id", "is_disabled", "is_org_manager",
                 "session_version", "password_changed_at", "created_at"]
    w.rows("users", user_cols, [(1, "bench_operator", "bench@example.cn", "!unusable", units[0], False, False, 1,
                                 now, now)])
    inst_cols = ["id", "owner_id", "status", "name_zh", "original_value_fen", "category_code", "district",
                 "service_modes", "fee_per_hour_fen", "created_at", "updated_at", "published_at"]
    owners = {i: units[(i - 1) % len(units)] for i in range(1, args.instruments + 1)}
    w.rows("instruments", inst_cols,
           [(i, owners[i], "published", f"{rng.choice(CORES)}{i}", rng.randint(500_000, 20_000_000) * 100, "0101",
             rng.choice(DISTRICTS), "machine_time", rng.randint(50, 2000) * 100, now, now, now)
            for i in range(1, args.instruments + 1)])
    started = time.perf_counter()
    sr_cols = ["id", "instrument_id", "unit_id", "organization_id", "mode", "actual_start", "actual_end",
               "start_local_date", "effective_minutes", "external", "fee_fen", "fee_basis", "operator_id",
               "created_by_id", "created_at"]
    re_cols = ["id", "service_record_id", "unit_id", "organization_id", "kind", "amount_fen", "entry_date",
               "entered_by_id", "created_at"]
    ra_cols = ["id", "service_record_id", "instrument_id", "unit_id", "organization_id", "user_id", "score",
               "comment", "created_at"]
    def services(part: str):
        """The same services on every pass (own seed), yielding one table's rows: nothing is held in memory."""
        r = random.Random(args.records)
        entry_id = rating_id = 0
        for rid in range(1, args.records + 1):
            instrument = r.randint(1, args.instruments)
            unit = owners[instrument]
            org = unit if r.random() < 0.3 else r.choice(smes)
            day = Q_START + timedelta(days=r.randrange(Q_DAYS))
            start = datetime(day.year, day.month, day.day, r.randint(0, 11))  # 08:00–19:00 local, in UTC
            minutes = r.randint(15, 480)
            fee = minutes * 1000 // 60 * 10
            paid_on = day + timedelta(days=r.randint(0, 10))
            refund, score = r.random() < 0.01, r.randint(3, 5) if r.random() < 0.2 else None
            if part == "service_records":
                yield (rid, instrument, unit, org, "machine_time", start, start + timedelta(minutes=minutes), day,
                       minutes, org != unit, fee, "bench", 1, 1, now)
            elif part == "revenue_entries":
                yield (entry_id + 1, rid, unit, org, "charge", fee, day, 1, now)
                yield (entry_id + 2, rid, unit, org, "payment", fee, paid_on, 1, now)
                entry_id += 2
                if refund:
                    entry_id += 1
                    yield (entry_id, rid, unit, org, "refund", fee // 2, paid_on, 1, now)
            elif score is not None:
                rating_id += 1
                yield (rating_id, rid, instrument, unit, org, 1, score, "", now)

    counts = {}
    for table, columns in (("service_records", sr_cols), ("revenue_entries", re_cols),
                           ("service_ratings", ra_cols)):
        counter = _Counter(services(table))
        w.rows(table, columns, counter)
        counts[table] = counter.n
    w.finish(["organizations", "users", "instruments", "service_records", "revenue_entries", "service_ratings"])
    return {"records": counts["service_records"], "entries": counts["revenue_entries"],
            "ratings": counts["service_ratings"],
            "fill_s": time.perf_counter() - started}


def forget_reports() -> None:
    """--reuse: drop the reports a previous run stored, so the job has everything to make again."""
    from sqlalchemy import delete

    from instrument_share.db import db
    from instrument_share.files.models import StoredFile
    from instrument_share.reporting.models import OperationReport

    with db.transaction() as session:
        session.execute(delete(OperationReport))
        session.execute(delete(StoredFile).where(StoredFile.purpose == "operation_report"))


def measure(url: str, args, reuse: bool) -> dict:
    from sqlalchemy import func, select

    from instrument_share.db import db
    from instrument_share.ledger.models import RevenueEntry, ServiceRating, ServiceRecord
    from instrument_share.reporting import generation
    from instrument_share.reporting.models import OperationReport
    from instrument_share.reporting.reports import Snapshot

    app = make_app(url)
    with app.app_context():
        if reuse:
            forget_reports()
            filled = {"records": db.session.scalar(select(func.count()).select_from(ServiceRecord)),
                      "entries": db.session.scalar(select(func.count()).select_from(RevenueEntry)),
                      "ratings": db.session.scalar(select(func.count()).select_from(ServiceRating)), "fill_s": 0.0}
        else:
            filled = fill(db.engine, args, random.Random(5))
        db.session.remove()
        started, cpu = time.perf_counter(), time.process_time()
        made = generation.generate_missing(YEAR, QUARTER)
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
        # The platform's own report alone (CSV + XLSX of every instrument): what a person asks for on demand.
        t0 = time.perf_counter()
        rendered = generation.render(YEAR, QUARTER, unit_id=None)
        with db.transaction():
            generation.store_rendered(rendered)
        platform_s = time.perf_counter() - t0
        # The aggregation alone, for the breakdown.
        t0 = time.perf_counter()
        Snapshot.take(generation.period(YEAR, QUARTER))
        snapshot_s = time.perf_counter() - t0
        size = db.session.scalar(select(func.count()).select_from(OperationReport))
    db.engine.dispose()
    return filled | {"made": made, "reports": size, "report_s": total, "snapshot_s": snapshot_s, "cpu_s": cpu,
                     "platform_s": platform_s,
                     "load": os.getloadavg()[0]}


def add_world_arguments(parser: argparse.ArgumentParser) -> None:
    """The size of the data `fill` generates (also used by bench/dashboards.py)."""
    parser.add_argument("--instruments", type=int, default=20_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=400)
    parser.add_argument("--smes", type=int, default=2_000)


def main() -> None:
    parser = argparse.ArgumentParser()
    add_world_arguments(parser)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--reset", action="store_true", help="empty the PostgreSQL database's public schema first")
    parser.add_argument("--sqlite-file")
    parser.add_argument("--reuse", action="store_true", help="measure again on databases this script filled before")
    parser.add_argument("--pg-url", default=os.environ.get("DATABASE_URL", ""))
    args = parser.parse_args()
    targets = []
    if args.only != "postgresql":
        targets.append("sqlite:///" + (args.sqlite_file or f"{tempfile.mkdtemp(prefix='bench-report-')}/r.sqlite3"))
    if args.pg_url.startswith("postgres") and args.only != "sqlite":
        if not (args.reuse and already_filled(args.pg_url)):
            prepare_postgres(args.pg_url, args.reset)
        targets.append(args.pg_url)
    results = []
    for url in targets:
        reuse = args.reuse and already_filled(url)
        migrate(url)
        print(f"{'measuring' if reuse else 'filling'} {url.split('@')[-1]} …", flush=True)
        results.append(("postgresql" if url.startswith("postgres") else "sqlite", measure(url, args, reuse)))
    print(f"\nQuarterly report {YEAR}Q{QUARTER}: {args.instruments:,} instruments, {args.units} units; "
          "platform report (CSV + XLSX) and all files (platform + every unit), stored and audited; target ≤ 20 s")
    header = (f"{'backend':10} {'records':>9} {'entries':>9} {'ratings':>8} {'fill s':>7} {'files':>6} "
              f"{'aggregation s':>13} {'platform s':>10} {'all files s':>11} {'python cpu s':>12} {'load':>5}")
    print(header)
    print("-" * len(header))
    for backend, r in results:
        flag = "" if r["platform_s"] <= 20 else "  > target"
        print(f"{backend:10} {r['records']:>9,} {r['entries']:>9,} {r['ratings']:>8,} {r['fill_s']:>7.1f} "
              f"{r['made']:>6} {r['snapshot_s']:>13.2f} {r['platform_s']:>10.2f} {r['report_s']:>11.2f} "
              f"{r['cpu_s']:>12.2f} {r['load']:>5.1f}{flag}")


if __name__ == "__main__":
    main()
