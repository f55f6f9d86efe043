"""Backups of the whole database and restores from them (`flask backup`, instrument_share/backup_cli.py).

SQLite: SQLite's online backup API copies the database in one step inside one read transaction, so the copy is one
consistent moment even while the platform writes (WAL lets the writers go on). A restore copies the backup into a
temporary file beside the database, checks it (`PRAGMA integrity_check`, the platform's tables), and moves it into
place with one atomic rename; the replaced file is kept beside it.

PostgreSQL: `pg_dump -Fc` (one snapshot, consistent while the platform runs) and `pg_restore --clean --if-exists
--single-transaction` (all of the backup or, on any error, none of it), with the binaries found on PATH or under
/usr/lib/postgresql/<version>/bin, like scripts/pg_throwaway.py finds them.

A restore is refused while other processes are connected to the database (they would go on writing into the
replaced database, or see it half restored): stop the web servers and the scheduler first.
"""

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from .db import db, normalise_url

# Tables a backup of the platform must have; a file without them is not one.
REQUIRED_TABLES = ("alembic_version", "audit_entries", "revenue_entries")


class BackupError(Exception):
    """The backup or restore cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupFile:
    path: Path
    size: int
    sha256: str


def is_sqlite(url: str) -> bool:
    return normalise_url(url).startswith("sqlite")


def sqlite_path(url: str) -> Path:
    database = make_url(normalise_url(url)).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def find_binary(name: str) -> str:
    """A PostgreSQL client program from PATH, else from the newest /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name)
    if found:
        return found

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.parent.name)) or (0,)

    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=version, reverse=True)
    if not candidates:
        raise BackupError(f"{name} not found: install the PostgreSQL client programs (Debian/Ubuntu: "
                          f"postgresql-client, of the server's major version or newer) or put {name} on PATH")
    return str(candidates[0])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _described(path: Path) -> BackupFile:
    return BackupFile(path, path.stat().st_size, sha256_of(path))


def _target_name(directory: Path, suffix: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path, n = directory / f"instrument_share-{stamp}{suffix}", 1
    while path.exists():  # two backups within one second
        n += 1
        path = directory / f"instrument_share-{stamp}-{n}{suffix}"
    return path


def _private_file(path: Path) -> None:
    """A backup holds every account and ledger: readable by the owner only."""
    path.touch(mode=0o600)
    path.chmod(0o600)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------------ create


def create(url: str, directory: Path) -> BackupFile:
    """Write a backup of the database at `url` into `directory` under a timestamped name."""
    directory.mkdir(parents=True, exist_ok=True)
    final = _target_name(directory, ".sqlite3" if is_sqlite(url) else ".dump")
    partial = final.with_name(final.name + ".partial")  # never mistaken for a finished backup
    _private_file(partial)
    try:
        if is_sqlite(url):
            _sqlite_backup(sqlite_path(url), partial)
        else:
            uri, env = pg_connection(url)
            _run([find_binary("pg_dump"), "--format=custom", f"--file={partial}", f"--dbname={uri}"], env)
        os.replace(partial, final)
        _fsync_directory(directory)
    finally:
        partial.unlink(missing_ok=True)
    return _described(final)


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    src = sqlite3.connect(source, timeout=60)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # all pages in one step: one read transaction, one consistent moment
        dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file, no -wal beside it
        _check_sqlite(dst, target)
    finally:
        dst.close()
        src.close()


def _check_sqlite(conn: sqlite3.Connection, path: Path) -> None:
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a SQLite database: {exc}") from exc
    if result != ["ok"]:
        raise BackupError(f"{path} fails the integrity check: {'; '.join(result[:5])}")
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise BackupError(f"{path} is not an InstrumentShare database (no table {', '.join(missing)})")


# ------------------------------------------------------------------------------------------------ restore


def restore(url: str, backup: Path) -> Path | None:
    """Replace the database at `url` with the backup; returns where the replaced SQLite file was kept."""
    if not backup.is_file():
        raise BackupError(f"no backup file at {backup}")
    db.session.remove()
    db.engine.dispose()  # this process holds no connection that would count as another user
    if is_sqlite(url):
        return _sqlite_restore(sqlite_path(url), backup)
    _pg_restore(url, backup)
    return None


def _sqlite_restore(target: Path, backup: Path) -> Path | None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.restoring")
    temp.unlink(missing_ok=True)
    _private_file(temp)
    try:
        src = sqlite3.connect(backup)
        dst = sqlite3.connect(temp)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            _check_sqlite(dst, temp)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{backup} is not a SQLite database: {exc}") from exc
        finally:
            dst.close()
            src.close()
        kept = None
        if target.exists():
            _take_over(target)
            kept = target.with_name(f"{target.name}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
            os.link(target, kept)  # the replaced database stays readable under this name
        os.replace(temp, target)  # atomic: a process opening the file sees the old or the new database
        _fsync_directory(target.parent)
        return kept
    finally:
        temp.unlink(missing_ok=True)


def _take_over(target: Path) -> None:
    """Refuse when another connection has the database open; otherwise fold its WAL into the file.

    SQLite grants an exclusive lock on a WAL database only when no other connection has it open, so this also
    finds idle processes (a gunicorn worker keeps its pooled connections open between requests).
    """
    conn = sqlite3.connect(target, timeout=1, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=DELETE")  # checkpoints the WAL and removes it: the file is complete
    except sqlite3.OperationalError as exc:
        raise BackupError(f"{target} is in use by another process ({exc}): stop the web servers and the "
                          "scheduler, then restore") from exc
    finally:
        conn.close()


def pg_connection(url: str) -> tuple[str, dict]:
    """A libpq URI for pg_dump/pg_restore, and the environment carrying the password (never on the command
    line, where other users of the machine could read it)."""
    parsed = make_url(normalise_url(url))
    user = quote(parsed.username or "", safe="")
    host = f"[{parsed.host}]" if parsed.host and ":" in parsed.host else (parsed.host or "")
    port = f":{parsed.port}" if parsed.port else ""
    query = f"?{urlencode(dict(parsed.query), doseq=True)}" if parsed.query else ""
    uri = f"postgresql://{user}{'@' if user else ''}{host}{port}/{quote(parsed.database or '', safe='')}{query}"
    env = os.environ | ({"PGPASSWORD": parsed.password} if parsed.password else {})
    return uri, env


def _pg_restore(url: str, backup: Path) -> None:
    uri, env = pg_connection(url)
    pg_restore = find_binary("pg_restore")
    _run([pg_restore, "--list", str(backup)], env, what=f"{backup} is not a pg_dump custom-format archive")
    others = _other_sessions()
    if others:
        raise BackupError(f"{others} other session(s) are connected to the database: stop the web servers and the "
                          "scheduler, then restore")
    # One transaction: any error leaves the database as it was. Objects belong to the configured user.
    _run([pg_restore, "--clean", "--if-exists", "--single-transaction", "--no-owner", f"--dbname={uri}",
          str(backup)], env)


def _other_sessions() -> int:
    count = db.session.scalar(text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"))
    db.session.remove()
    db.engine.dispose()
    return int(count)


def _run(cmd: list[str], env: dict, what: str | None = None) -> None:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-3:]
        raise BackupError(f"{what or Path(cmd[0]).name + ' failed'}: {' '.join(detail)}")


# ------------------------------------------------------------------------------------------------ after a restore


def ledger_totals():
    """The whole ledger's totals (entries.Balance), summed by the database."""
    from .ledger.entries import BALANCE_COLUMNS, Balance

    return Balance(*(int(v or 0) for v in db.session.execute(select(*BALANCE_COLUMNS)).one()))


def schema_revision() -> str | None:
    return db.session.scalar(text("SELECT version_num FROM alembic_version"))


def audit_head() -> int:
    from .audit.models import AuditEntry

    return int(db.session.scalar(select(func.coalesce(func.max(AuditEntry.seq), 0))))
