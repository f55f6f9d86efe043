"""Run the test suite on SQLite and on PostgreSQL (DATABASE_URL, or a throw-away server) at the same time, and total
the results.

The two passes share nothing (SQLite files in temporary directories; PostgreSQL in its own server), and each runs
on TEST_WORKERS pytest-xdist workers (default 2; whole test files per worker, each PostgreSQL worker with a database
of its own), so the two cores of a small CI machine stay busy until the end. Each line of output is prefixed with its
backend. With CI=true a PostgreSQL that cannot be started is a failure, never a skip.
"""

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from pg_throwaway import throwaway_postgres  # noqa: E402

_print_lock = threading.Lock()


def _relay(label: str, stream) -> None:
    for line in iter(stream.readline, ""):
        with _print_lock:
            sys.stdout.write(f"[{label}] {line}")
            sys.stdout.flush()


def start(label: str, extra_env: dict, args: list[str], report: Path) -> tuple[subprocess.Popen, threading.Thread]:
    with _print_lock:
        print(f"=== tests on {label} ===", flush=True)
    env = os.environ | extra_env | {"PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "pytest", f"--junitxml={report}", *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    relay = threading.Thread(target=_relay, args=(label, process.stdout), daemon=True)
    relay.start()
    return process, relay


def counts(report: Path) -> dict:
    found = {"passed": 0, "failed": 0, "skipped": 0}
    if report.exists():
        suite = ET.parse(report).getroot()  # noqa: S314  our own pytest report
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        tests, failures = int(suite.get("tests", 0)), int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        found = {"passed": tests - failures - skipped, "failed": failures, "skipped": skipped}
    return found


def main(args: list[str]) -> int:
    ci = os.environ.get("CI", "").lower() == "true"
    workers = os.environ.get("TEST_WORKERS", "2")
    if workers not in ("", "0", "1") and not any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args):
        args = ["-n", workers, "--dist", "loadfile", *args]
    reports = Path(tempfile.mkdtemp(prefix="instrument-share-tests-"))
    runs = [("sqlite", *start("sqlite", {"TEST_DATABASE_URL": ""}, args, reports / "sqlite.xml"),
             reports / "sqlite.xml")]
    codes = []
    with contextlib.ExitStack() as stack:
        given = os.environ.get("DATABASE_URL", "")
        url = given if given.startswith("postgres") else None
        if url is None:
            try:
                url = stack.enter_context(throwaway_postgres())
            except Exception as exc:  # reported, and fatal on CI
                print(f"\nPostgreSQL could not be started: {exc}", flush=True)
                if ci:
                    codes.append(1)
                else:
                    print("PostgreSQL pass SKIPPED (outside CI only)", flush=True)
        if url is not None:
            runs.append(("postgresql", *start("postgresql", {"TEST_DATABASE_URL": url}, args, reports / "pg.xml"),
                         reports / "pg.xml"))
        for _label, process, relay, _report in runs:
            codes.append(process.wait())
            relay.join()
    for label, _process, _relay_thread, report in runs:
        found = counts(report)
        print(f"{label}: {found['passed']} passed, {found['failed']} failed, {found['skipped']} skipped")
    totals = {k: sum(counts(report)[k] for *_rest, report in runs) for k in ("passed", "failed", "skipped")}
    print(f"all backends: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return max(codes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
