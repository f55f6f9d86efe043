"""What the command groups share: turning a refused service call into a clean command-line error."""

import click


def fail(exc) -> None:
    """Raise a ClickException (exit code 1, one line on stderr, no traceback) from a DomainError."""
    message = getattr(exc, "message", str(exc))
    fields = getattr(exc, "fields", {})
    detail = "; ".join(f"{k}: {v}" for k, v in fields.items())
    raise click.ClickException(f"{message} {detail}".strip())
