"""`flask reports`: make and list the quarterly operation reports from the server's command line.

The commands only choose what to make and print what happened; rendering, storing and auditing are the services'
in generation.py. Rendering reads only, so it runs before the command's one short write transaction (as the report
page and the scheduled job do).
"""

import re

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..cli_support import fail
from ..db import db

reports_cli = AppGroup("reports", help="Quarterly operation reports (CSV and XLSX, stored with their SHA-256).")
QUARTER_TEXT = re.compile(r"(\d{4})-?[Qq]([1-4])")


class QuarterType(click.ParamType):
    """A quarter written as 2026Q3 (also 2026q3, 2026-Q3); becomes (year, quarter)."""

    name = "YYYYQn"

    def convert(self, value, param, ctx):
        from .periods import MAX_YEAR, MIN_YEAR

        if isinstance(value, tuple):
            return value
        match = QUARTER_TEXT.fullmatch(value.strip())
        if match is None:
            self.fail(f"{value!r} is not a quarter; write it as 2026Q3", param, ctx)
        year, quarter = int(match[1]), int(match[2])
        if not MIN_YEAR <= year <= MAX_YEAR:  # the statistics' own range (periods.period)
            self.fail(f"{value!r}: the year must be from {MIN_YEAR} to {MAX_YEAR}", param, ctx)
        return year, quarter


QUARTER = QuarterType()


class _CommandLine:
    """The person at the server's command line; the audit entries name the actor "cli" (not the scheduled job)."""

    id = None
    username = "cli"
    organization_id = None


def _finished_quarter(quarter: tuple[int, int] | None) -> tuple[int, int]:
    """The chosen quarter, or the last finished one; a quarter still running would be stored incomplete, and the
    scheduled job never replaces a stored report, so it is refused."""
    from ..core.clock import local_today
    from .periods import previous_quarter, quarter_of

    today = local_today()
    if quarter is None:
        return previous_quarter(today)
    if quarter >= quarter_of(today):
        raise click.BadParameter(f"{quarter[0]}Q{quarter[1]} has not ended yet (today is {today.isoformat()})",
                                 param_hint="'--quarter'")
    return quarter


def _unit_id(unit_uscc: str | None, platform: bool) -> int | None:
    """The unit chosen by --unit (None with --platform); an unknown USCC or a non-provider is refused."""
    from ..accounts.models import Organization
    from ..catalogue.models import Instrument

    if unit_uscc and platform:
        raise click.UsageError("give --unit or --platform, not both")
    if not unit_uscc:
        return None
    unit = db.session.scalar(select(Organization).where(Organization.uscc == unit_uscc.strip().upper()))
    if unit is None:
        raise click.ClickException(f"no organisation with USCC {unit_uscc}")
    if db.session.scalar(select(Instrument.id).where(Instrument.owner_id == unit.id).limit(1)) is None:
        raise click.ClickException(f"{unit.name} ({unit.uscc}) has no instruments, so it has no operation report")
    return unit.id


def _reports(*where):
    """Stored reports with their unit's USCC and file name (one query), oldest quarter first, platform first."""
    from ..accounts.models import Organization
    from ..files.models import StoredFile
    from .models import OperationReport

    stmt = (select(OperationReport, Organization.uscc, StoredFile.filename)
            .join(StoredFile, StoredFile.id == OperationReport.file_id)
            .outerjoin(Organization, Organization.id == OperationReport.unit_id)
            .where(*where)
            .order_by(OperationReport.year, OperationReport.quarter, OperationReport.unit_id.is_not(None),
                      OperationReport.unit_id, OperationReport.format, OperationReport.id))
    return list(db.session.execute(stmt))


def _chosen(year: int | None, quarter: int | None, *, everyone: bool, unit_id: int | None) -> list:
    """Conditions for the reports of one quarter (all quarters when year is None) and scope (`everyone`: all)."""
    from .models import OperationReport

    where = [] if year is None else [OperationReport.year == year, OperationReport.quarter == quarter]
    if not everyone:
        where.append(OperationReport.unit_id.is_(None) if unit_id is None else OperationReport.unit_id == unit_id)
    return where


def _print(state: str, rows) -> None:
    from ..core.clock import local_zone

    zone = local_zone()
    for report, uscc, name in rows:
        who = "platform" if report.unit_id is None else f"unit {uscc}"
        at = report.generated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        click.echo("\t".join([state, f"report {report.id}", f"{report.year}Q{report.quarter}", who, report.format,
                               at, f"file {report.file_id}", name, f"sha256 {report.sha256}"]))


@reports_cli.command("generate")
@click.option("--quarter", type=QUARTER, default=None, help="e.g. 2026Q3 (default: the last finished quarter).")
@click.option("--unit", "unit_uscc", default=None, help="Only this unit's reports (its USCC).")
@click.option("--platform", is_flag=True, help="Only the platform-wide report.")
@click.option("--force", is_flag=True,
              help="With --unit or --platform: store a fresh version in every format even when the quarter's "
                   "report exists (stored reports are never changed; the new version is listed beside them).")
def reports_generate(quarter, unit_uscc, platform, force):
    """Make the quarter's missing reports (the platform's and every unit's, or only the chosen one).

    Each file is stored with its SHA-256 and an audit entry in one transaction. Reports already stored are
    listed and left alone, so running the command again makes nothing new (unless --force).
    """
    from ..core.errors import DomainError
    from . import generation
    from .models import OperationReport

    year, q = _finished_quarter(quarter)
    everyone = not unit_uscc and not platform
    unit_id = _unit_id(unit_uscc, platform)
    if force and everyone:
        raise click.UsageError("--force needs --unit USCC or --platform")
    before = _reports(*_chosen(year, q, everyone=everyone, unit_id=unit_id))
    have = {(r.unit_id, r.format) for r, _uscc, _name in before}
    try:
        if everyone:
            rendered = generation.render_missing(year, q)
        else:
            formats = [f for f in generation.FORMATS if force or (unit_id, f) not in have]
            rendered = generation.render(year, q, unit_id=unit_id, formats=formats) if formats else []
        made_ids = []
        if rendered:
            with db.transaction():
                made_ids = [r.id for r in generation.store_rendered(rendered, actor=_CommandLine(),
                                                                  only_missing=not force)]
        else:
            db.session.rollback()  # end the read transaction
    except DomainError as exc:
        fail(exc)
    _print("exists", before)
    _print("generated", _reports(OperationReport.id.in_(made_ids)) if made_ids else [])
    click.echo(f"{year}Q{q}: {len(made_ids)} generated, {len(before)} already existed", err=True)


@reports_cli.command("list")
@click.option("--quarter", type=QUARTER, default=None, help="Only this quarter, e.g. 2026Q3 (default: every quarter).")
@click.option("--unit", "unit_uscc", default=None, help="Only this unit's reports (its USCC).")
@click.option("--platform", is_flag=True, help="Only the platform-wide reports.")
def reports_list(quarter, unit_uscc, platform):
    """List the stored reports: id, quarter, scope, format, when (local time), file and SHA-256."""
    year, q = quarter or (None, None)
    rows = _reports(*_chosen(year, q, everyone=not unit_uscc and not platform, unit_id=_unit_id(unit_uscc, platform)))
    _print("stored", rows)
    click.echo(f"{len(rows)} reports", err=True)
