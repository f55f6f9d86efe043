"""The long fuzz run: tests/security/test_api_fuzz.py and tests/security/test_form_fuzz.py with many more inputs per
operation.

    .venv/bin/python scripts/fuzz.py --examples 500                   # SQLite, derandomised (as in CI, but longer)
    .venv/bin/python scripts/fuzz.py --examples 500 --seed 7          # other inputs than CI's
    .venv/bin/python scripts/fuzz.py --only resources --api           # one operation (or route) only
    .venv/bin/python scripts/fuzz.py --postgres                       # on a throw-away PostgreSQL
    TEST_DATABASE_URL=postgresql+psycopg://... .venv/bin/python scripts/fuzz.py   # on that (emptied) database

Prints the inputs tried per operation and in total and the count of 5xx; exits non-zero on any failure. A failure
is printed with the request that caused it; the same command (same --examples and --seed) repeats it.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from pg_throwaway import throwaway_postgres  # noqa: E402

TESTS = {"api": "tests/security/test_api_fuzz.py", "forms": "tests/security/test_form_fuzz.py"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="inputs per operation or route (CI: 12)")
    parser.add_argument("--seed", type=int, help="draw other inputs than the derandomised CI run")
    parser.add_argument("--only", action="append", default=[], help="operations or routes whose name contains this")
    parser.add_argument("--api", action="store_true", help="only the API (schemathesis)")
    parser.add_argument("--forms", action="store_true", help="only the HTML forms")
    parser.add_argument("--postgres", action="store_true", help="on a throw-away PostgreSQL instead of SQLite")
    args = parser.parse_args(argv)
    chosen = [name for name in TESTS if getattr(args, name)] or list(TESTS)
    env = os.environ | {"FUZZ_EXAMPLES": str(args.examples), "FUZZ_ONLY": ",".join(args.only)}
    if args.seed is not None:
        env["FUZZ_SEED"] = str(args.seed)
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *(TESTS[n] for n in chosen)]
    if not args.postgres:
        return subprocess.call(command, cwd=ROOT, env=env)
    with throwaway_postgres() as url:
        return subprocess.call(command, cwd=ROOT, env=env | {"TEST_DATABASE_URL": url})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
