"""The database a benchmark fills: PostgreSQL when DATABASE_URL names one (its schema is reset), else a SQLite
file in a temporary directory, migrated either way; the directory is removed afterwards unless kept."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_database(name: str, *, keep: bool) -> Iterator[tuple[str, Path]]:
    from tests.conftest import migrate, reset_postgres_schema

    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        reset_postgres_schema(url)
    else:
        url = f"sqlite:///{work / f'{name}.sqlite3'}"
    migrate(url)
    print(f"backend: {url.split(':')[0].split('+')[0]}", flush=True)
    try:
        yield url, work
    finally:
        if keep:
            print(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
