"""Benchmark the audit chain: bulk appends, concurrent single appends, and verifying 100,000 entries.

Usage: .venv/bin/python bench/audit_chain.py [--entries 100000] [--writers 8] [--per-writer 200]
Uses DATABASE_URL when it names PostgreSQL (an empty database), otherwise a temporary SQLite file.
Prints figures; asserts nothing about time.
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_app(url: str):
    from instrument_share import create_app

    return create_app({"SECRET_KEY": "bench", "DATABASE_URL": url, "TESTING": True})


def migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent / "migrations"
    cfg = Config(str(root / "alembic.ini"))
    cfg.set_main_option("script_location", str(root))
    cfg.attributes.update(database_url=url, skip_logging=True)
    command.upgrade(cfg, "head")


def writer(url: str, count: int, queue) -> None:
    from instrument_share.audit import chain
    from instrument_share.db import db

    app = make_app(url)
    latencies = []
    with app.app_context():
        for i in range(count):
            start = time.perf_counter()
            with db.transaction():
                chain.append("bench.concurrent", details={"pid": os.getpid(), "i": i})
            latencies.append((time.perf_counter() - start) * 1000)
    queue.put(latencies)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--per-writer", type=int, default=200)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        url = f"sqlite:///{tempfile.mkdtemp(prefix='bench-audit-')}/bench.sqlite3"
    migrate(url)
    from instrument_share.audit import chain
    from instrument_share.db import db

    app = make_app(url)
    print(f"backend: {url.split(':')[0]}")
    with app.app_context():
        start, batch = time.perf_counter(), 1000
        for first in range(0, args.entries, batch):
            with db.transaction():
                for i in range(first, min(first + batch, args.entries)):
                    chain.append("bench.bulk", object_type="bench", object_id=i, details={"i": i, "text": "样本"})
            db.session.expunge_all()
        elapsed = time.perf_counter() - start
        print(f"bulk append: {args.entries} entries in {elapsed:.1f} s ({args.entries / elapsed:,.0f}/s, "
              f"batches of {batch})")

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=writer, args=(url, args.per_writer, queue)) for _ in range(args.writers)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    latencies = [ms for _ in procs for ms in queue.get()]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    total = args.writers * args.per_writer
    print(f"concurrent append: {args.writers} processes x {args.per_writer} = {total} single-entry transactions in "
          f"{elapsed:.1f} s; latency median {statistics.median(latencies):.1f} ms, "
          f"p95 {latencies[int(len(latencies) * 0.95)]:.1f} ms")

    with app.app_context():
        start = time.perf_counter()
        result = chain.verify()
        elapsed = time.perf_counter() - start
        print(f"verify: {result.entries} entries in {elapsed:.1f} s, ok={result.ok} "
              f"first_broken_seq={result.first_broken_seq}")


if __name__ == "__main__":
    main()
