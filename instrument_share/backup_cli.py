"""`flask backup create|restore`: the commands around instrument_share/backup.py, with their audit entries.

A backup is recorded in the audit chain of the database it copies, once the file is complete (with its SHA-256).
A restore replaces the database, chain included, so it is recorded afterwards, in the restored chain; the command
then verifies that chain and prints the ledger totals, so the operator sees at once what was brought back.
"""

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from .db import db

backup_cli = AppGroup("backup", help="Backups of the whole database (SQLite file copy or pg_dump) and restores.")


class _CommandLine:
    """The person at the server's command line; audit entries name the actor "cli"."""

    id = None
    username = "cli"
    organization_id = None


def _url() -> str:
    return current_app.config["DATABASE_URL"]


@backup_cli.command("create")
@click.option("--output", "output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for the backup file (default: instance/backups).")
def backup_create(output):
    """Write a consistent backup to a timestamped file; safe while the platform runs."""
    from . import backup
    from .audit import chain

    directory = output or Path(current_app.instance_path) / "backups"
    try:
        made = backup.create(_url(), directory)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    with db.transaction():
        chain.append("backup.created", actor=_CommandLine(), object_type="backup", object_id=made.path.name,
                     details={"file": made.path.name, "bytes": made.size, "sha256": made.sha256})
    click.echo(f"backup {made.path} ({made.size} bytes, sha256 {made.sha256})")


@backup_cli.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def backup_restore(file, yes):
    """Replace the configured database with the backup FILE (stop the web servers and the scheduler first)."""
    from . import backup
    from .audit import chain
    from .cli_support import alembic_config
    from .core.money import format_fen

    if not yes:
        click.confirm(f"This replaces every record of the configured database with {file}. Continue?", abort=True)
    digest = backup.sha256_of(file)
    try:
        kept = backup.restore(_url(), file)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"restored {file} (sha256 {digest})" + (f"; the replaced database is kept as {kept}" if kept else ""))

    from alembic.script import ScriptDirectory

    revision, head = backup.schema_revision(), ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision != head:
        db.session.rollback()
        click.echo(f"the backup's schema is revision {revision}, this release expects {head}: run `flask db upgrade`, "
                   "then `flask audit verify`")
        return
    result = chain.verify()
    head = backup.audit_head()
    totals = backup.ledger_totals()
    with db.transaction():
        chain.append("backup.restored", actor=_CommandLine(), object_type="backup", object_id=file.name,
                     details={"file": file.name, "sha256": digest, "restored_head_seq": head,
                              "chain_ok": result.ok, "previous_database": kept.name if kept else None})
    click.echo(f"ledger totals: charges {format_fen(totals.charged_fen)}, payments {format_fen(totals.paid_fen)}, "
               f"refunds {format_fen(totals.refunded_fen)}, debit adjustments {format_fen(totals.debit_fen)}, "
               f"credit adjustments {format_fen(totals.credit_fen)}, owed {format_fen(totals.owed_fen)}")
    if not result.ok:
        raise click.ClickException(f"audit chain BROKEN at entry {result.first_broken_seq}: {result.problem}")
    click.echo(f"audit chain OK: {result.entries} entries restored; the restore is recorded as entry {head + 1}")
