"""`flask catalogue import`: a unit's instruments from CSV or XLSX, all rows or none, with a progress bar.

The command imports synchronously whatever the file's size, within the same bounds as an upload (rows, columns,
bytes, what an XLSX unpacks to).
"""

import sys
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from .cli_support import fail
from .db import db

catalogue_cli = AppGroup("catalogue", help="The instrument catalogue.")


class _UnitOperator:
    """The person at the command line acting as an instrument operator of one unit (bulk import).

    The services' own checks still decide: the unit must be a verified provider unit. The audit log names the
    actor "cli".
    """

    id = None
    username = "cli"
    is_authenticated = True
    is_disabled = False

    def __init__(self, unit):
        self.organization, self.organization_id = unit, unit.id

    def has_role(self, *roles) -> bool:
        from .accounts.roles import Role

        return Role.provider_operator in roles


@catalogue_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--unit", "unit_uscc", required=True, help="USCC of the unit whose instruments these are.")
@click.option("--dry-run", is_flag=True, help="Check every row and list the problems; write nothing.")
@click.option("--publish", is_flag=True, help="Publish at once (civilian units only); drafts otherwise.")
def catalogue_import(file, unit_uscc, dry_run, publish):
    """Import a unit's instruments from CSV or XLSX with the national field names as headers, all or nothing."""
    from .accounts.models import Organization
    from .catalogue import importer
    from .core.errors import DomainError

    unit = db.session.scalar(select(Organization).where(Organization.uscc == unit_uscc.strip().upper()))
    if unit is None:
        raise click.ClickException(f"no organisation with USCC {unit_uscc}")
    actor, err, report = _UnitOperator(unit), sys.stderr, None
    try:
        importer.require_importer(actor, unit, publish=publish)
        parsed = importer.parse_file(_read_bounded(file), file.name)
        if dry_run:
            with click.progressbar(length=len(parsed.rows), label="Checking", file=err) as bar:
                report = importer.check(parsed, bar.update)
        else:
            with db.transaction(), click.progressbar(length=2 * len(parsed.rows), label="Importing", file=err) as bar:
                result = importer.import_rows(actor, unit, parsed, publish=publish, progress=bar.update)
    except importer.ImportRejected as exc:
        report = exc.report
    except DomainError as exc:
        fail(exc)
    if report is not None:  # a dry run, or a real run refused with the report
        _print_report(report, dry_run)
        return
    state = "published" if result.published else "drafts"
    click.echo(f"imported {result.count} instruments of {unit.name} as {state}: ids {result.first_id}-"
               f"{result.last_id}; source file {result.file_id} sha256 {result.sha256}")


def _read_bounded(path: Path) -> bytes:
    """At most one byte more than an upload may hold: enough for the importer to refuse a larger file without
    reading all of it into memory."""
    from flask import current_app

    with path.open("rb") as handle:
        return handle.read(current_app.config["MAX_UPLOAD_BYTES"] + 1)


def _print_report(report, dry_run: bool) -> None:
    if report.ok:
        click.echo(f"{report.rows} rows OK; nothing written (dry run)")
        return
    click.echo("row\tfield\treason")
    for problem in report.problems:
        click.echo(f"{problem.row}\t{problem.column}\t{problem.reason}")
    click.echo(f"{len(report.problems)} problems in {report.rows} rows; nothing "
               f"{'written (dry run)' if dry_run else 'imported'}", err=True)
    sys.exit(1)
