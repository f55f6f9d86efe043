"""Start a throw-away PostgreSQL from the installed binaries (loopback only) and remove it afterwards.

Used by the test command: `python scripts/pg_throwaway.py -- COMMAND...` runs COMMAND with DATABASE_URL set.
The cluster is UTF-8 (C.UTF-8) so pg_trgm handles Chinese, and durability is off because it is thrown away.
The fault-injection run restarts it (`throwaway_cluster()` and `Cluster.restart()`).
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DB_NAME = "instrument_share_test"


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(candidates[0]) if candidates else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; CI runs as root, so drop to the postgres system user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass(frozen=True)
class Cluster:
    url: str
    data: Path
    pg_ctl: str
    log: Path

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every session is ended, the server comes back with the options it had."""
        subprocess.run(_as_postgres([self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-m", "fast",
                                     "-w", "-t", "60", "restart"]), check=True, env=os.environ | {"LC_ALL": "C.UTF-8"},
                       stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def throwaway_postgres():
    with throwaway_cluster() as cluster:
        yield cluster.url


@contextlib.contextmanager
def throwaway_cluster():
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if not (initdb and pg_ctl):
        raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) not found; install the 'postgresql' package")
    base = Path(tempfile.mkdtemp(prefix="instrument-share-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    env = os.environ | {"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    try:
        subprocess.run(_as_postgres([initdb, "-D", str(data), "-U", "postgres", "--encoding=UTF8",
                                     "--locale=C.UTF-8", "--auth=trust", "--no-sync"]),
                       check=True, env=env, stdout=subprocess.DEVNULL)
        options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sock} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                   # Benchmarks pass production-like memory settings, e.g. "-c shared_buffers=1GB".
                   + os.environ.get("PG_THROWAWAY_OPTIONS", ""))
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w",
                                     "-t", "60", "start"]), check=True, env=env, stdout=subprocess.DEVNULL)
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DB_NAME}"
        _create_database(port)
        yield Cluster(url, data, pg_ctl, base / "log")
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(base, ignore_errors=True)


def _create_database(port: int) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres",
                                 autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {DB_NAME} ENCODING 'UTF8' TEMPLATE template0")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    with throwaway_postgres() as url:
        print(f"throw-away PostgreSQL at {url}", flush=True)
        if not argv:
            print("press Ctrl-C to stop", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return 0
        return subprocess.call(argv, env=os.environ | {"DATABASE_URL": url, "TEST_DATABASE_URL": url})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
