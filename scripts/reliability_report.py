"""The reliability and security report: the long versions of the proof runs, on SQLite and PostgreSQL, in one table.

    .venv/bin/python scripts/reliability_report.py                     # the full report (about an hour on 2 cores)
    .venv/bin/python scripts/reliability_report.py --backend sqlite --fault-seconds 120 --fuzz-examples 60

Per backend it runs the authorisation matrix (every route x 13 principals x own/other object), the fuzzers (the
API through schemathesis and every HTML form, --fuzz-examples inputs per operation), the backup taken while writing
and restored, the audit tail deleted after a daily anchor (pytest, on a throw-away database), and the fault run
under load (bench/faults.py: 32 users, a worker killed every 60 s, the database failing once). The test command runs
short versions of the same tests. It prints what each run printed, then the table that docs/operations.md
("Reliability and security figures") shows, and exits 1 when any run failed.
"""

import argparse
import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from pg_throwaway import throwaway_postgres  # noqa: E402

PROOF_TESTS = ["tests/security/test_authz_matrix.py", "tests/security/test_api_fuzz.py",
               "tests/security/test_form_fuzz.py",
               "tests/platform/test_backup.py::test_backup_taken_while_writing_restores_exactly_its_moment",
               "tests/audit/test_audit_anchors.py::test_a_deleted_tail_is_detected_by_the_stored_anchor"]
MATRIX = re.compile(r"authz matrix \(\w+\): (?P<cells>\d+) cells checked \((?P<requests>\d+) requests\), "
                    r"unexpected 2xx/3xx = (?P<unexpected>\d+), allowed but refused = (?P<refused>\d+), "
                    r"5xx = (?P<errors>\d+), IDOR answers differing from a missing id = (?P<idor>\d+), "
                    r"routes covered (?P<covered>\d+/\d+)")
FUZZ = re.compile(r"(?P<title>.+?) \(\w+\): (?P<inputs>\d+) inputs over (?P<operations>\d+) operations.*?"
                  r"5xx: (?P<errors>\d+); failures: (?P<failures>\d+)")
FAULTS = re.compile(r"faults \(\w+, (?P<seconds>\d+) s, (?P<users>\d+) users\): requests (?P<requests>\d+), "
                    r"faults injected (?P<faults>\d+) \((?P<kinds>[^)]*)\), acknowledged writes (?P<acked>\d+), "
                    r"lost (?P<lost>\d+), duplicated (?P<duplicated>\d+), half-written (?P<half>\d+), "
                    r"5xx other than 503 (?P<errors>\d+), 503 (?P<unavailable>\d+) \(without the error body "
                    r"(?P<bare>\d+)\), slowest recovery (?P<recovery>[\d.]+) s.*audit chain (?P<chain>\w+)")
BACKUP = re.compile(r"backup \(\w+\): .*audit chain OK \((?P<entries>\d+) entries.*ledger identical "
                    r"\((?P<ledger>\d+) entries\)")
TRUNCATION = re.compile(r"audit truncation \(\w+\): .*: detected")


def run(command: list[str], env: dict) -> tuple[int, str]:
    print("$", " ".join(command), flush=True)
    process = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             check=False)
    print(process.stdout, flush=True)
    return process.returncode, process.stdout


def one_backend(backend: str, args, env: dict) -> dict:
    env = env | {"FUZZ_EXAMPLES": str(args.fuzz_examples)}
    with contextlib.ExitStack() as stack:
        if backend == "postgresql":
            env["TEST_DATABASE_URL"] = stack.enter_context(throwaway_postgres())
        else:
            env["TEST_DATABASE_URL"] = ""
        tests_code, tests_out = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *PROOF_TESTS],
                                    env)
    faults_code, faults_out = run([sys.executable, "bench/faults.py", "--backend", backend,
                                   "--seconds", str(args.fault_seconds)], env)
    found = {"ok": tests_code == 0 and faults_code == 0}
    if match := MATRIX.search(tests_out):
        found["matrix"] = match.groupdict()
    fuzz = [m.groupdict() for m in FUZZ.finditer(tests_out)]
    if fuzz:
        found["fuzz"] = {key: sum(int(f[key]) for f in fuzz) for key in ("inputs", "operations", "errors",
                                                                            "failures")}
    if match := FAULTS.search(faults_out):
        found["faults"] = match.groupdict()
    if match := BACKUP.search(tests_out):
        found["backup"] = match.groupdict()
    found["truncation"] = bool(TRUNCATION.search(tests_out))
    return found


def cell(found: dict, what: str) -> str:
    m, z, f, b = (found.get(k) for k in ("matrix", "fuzz", "faults", "backup"))
    missing = "not measured"
    return {
        "matrix": f"{m['cells']} cells ({m['requests']} requests), {m['covered']} routes" if m else missing,
        "unexpected": f"{m['unexpected']} (IDOR differences {m['idor']}, 5xx {m['errors']})" if m else missing,
        "fuzz": f"{z['inputs']} inputs over {z['operations']} operations and forms" if z else missing,
        "fuzz_5xx": str(z["errors"]) if z else missing,
        "faults": f"{f['faults']} ({f['kinds']}) in {f['seconds']} s, {f['users']} users" if f else missing,
        "writes": (f"{f['acked']} acknowledged: lost {f['lost']}, duplicated {f['duplicated']}, "
                   f"half-written {f['half']}") if f else missing,
        "errors": (f"500s {f['errors']}; 503s {f['unavailable']} (without the JSON body {f['bare']}); slowest "
                   f"recovery {f['recovery']} s; audit chain {f['chain']}") if f else missing,
        "backup": f"restored and verified: audit chain OK ({b['entries']} entries), ledger identical "
                  f"({b['ledger']} entries)" if b else missing,
        "truncation": "detected" if found.get("truncation") else missing,
    }[what]


ROWS = [("Authorisation matrix", "matrix"), ("Unexpected 2xx", "unexpected"), ("Fuzzing", "fuzz"),
        ("Fuzzing: 5xx", "fuzz_5xx"), ("Faults injected under load", "faults"), ("Writes", "writes"),
        ("Errors during faults", "errors"), ("Backup taken while writing", "backup"),
        ("Audit tail deleted after an anchor", "truncation")]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), action="append")
    parser.add_argument("--fault-seconds", type=int, default=300)
    parser.add_argument("--fuzz-examples", type=int, default=100)
    args = parser.parse_args(argv)
    backends = args.backend or ["sqlite", "postgresql"]
    results = {backend: one_backend(backend, args, dict(os.environ)) for backend in backends}
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    print(f"| | {' | '.join(names[b] for b in backends)} |")
    print(f"|---|{'---|' * len(backends)}")
    for title, key in ROWS:
        print(f"| {title} | {' | '.join(cell(results[b], key) for b in backends)} |")
    failed = [b for b, found in results.items() if not found["ok"]]
    print("RESULT:", f"FAILED on {', '.join(failed)}" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
