"""What the command groups share: turning a refused service call into a clean command-line error, and the Alembic
configuration of the app's database."""

from pathlib import Path

import click
from flask import current_app

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def fail(exc) -> None:
    """Raise a ClickException (exit code 1, one line on stderr, no traceback) from a DomainError."""
    message = getattr(exc, "message", str(exc))
    fields = getattr(exc, "fields", {})
    detail = "; ".join(f"{k}: {v}" for k, v in fields.items())
    raise click.ClickException(f"{message} {detail}".strip())


def alembic_config():
    from alembic.config import Config

    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["database_url"] = current_app.config["DATABASE_URL"]
    return cfg
