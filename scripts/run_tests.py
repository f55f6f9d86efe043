"""Run the test suite on SQLite, then on PostgreSQL (DATABASE_URL, or a throw-away server), and total the results.

With CI=true a PostgreSQL that cannot be started is a failure, never a skip.
"""

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from pg_throwaway import throwaway_postgres  # noqa: E402


def pytest(label: str, extra_env: dict, args: list[str], report: Path) -> tuple[int, dict]:
    print(f"\n=== tests on {label} ===", flush=True)
    env = os.environ | extra_env
    code = subprocess.call([sys.executable, "-m", "pytest", f"--junitxml={report}", *args], cwd=ROOT, env=env)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    if report.exists():
        suite = ET.parse(report).getroot()  # noqa: S314  our own pytest report
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        tests, failures = int(suite.get("tests", 0)), int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        counts = {"passed": tests - failures - skipped, "failed": failures, "skipped": skipped}
    return code, counts


def main(args: list[str]) -> int:
    ci = os.environ.get("CI", "").lower() == "true"
    reports = Path(tempfile.mkdtemp(prefix="instrument-share-tests-"))
    env_sqlite = {"TEST_DATABASE_URL": ""}
    results = [pytest("SQLite", env_sqlite, args, reports / "sqlite.xml")]
    given = os.environ.get("DATABASE_URL", "")
    if given.startswith("postgres"):
        results.append(pytest("PostgreSQL (DATABASE_URL)", {"TEST_DATABASE_URL": given}, args, reports / "pg.xml"))
    else:
        try:
            with throwaway_postgres() as url:
                results.append(pytest("PostgreSQL (throw-away)", {"TEST_DATABASE_URL": url}, args,
                                      reports / "pg.xml"))
        except Exception as exc:  # reported, and fatal on CI
            print(f"\nPostgreSQL could not be started: {exc}", flush=True)
            if ci:
                return 1
            print("PostgreSQL pass SKIPPED (outside CI only)", flush=True)
    totals = {k: sum(r[1][k] for r in results) for k in ("passed", "failed", "skipped")}
    print(f"\nall backends: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return max(code for code, _ in results)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
