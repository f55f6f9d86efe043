"""Run an action from a page: the service call in one transaction, and a refusal shown the same way on every page.

A view calls `run_action(...)`; on a refusal it re-renders its page with `outcome.status`, which is the status the
JSON API answers for the same error (`DomainError.status`, core/errors.py: 409 Conflict and InvalidState, 422 invalid
values, 403, 404, ...), so a page and the API never disagree about what a refusal means.

The one exception is a bare button that goes back to the page it is on (granting a role, verifying an
organisation, disabling an account): it redirects there whatever the outcome, and a refusal is the flashed reason
on that page (post/redirect/get; the tests of those pages and the authorisation matrix rely on it).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import flash

from ..core.errors import DomainError
from ..db import db


@dataclass
class Outcome:
    """What running an action gave: the service's return value, or the refusal (already shown to the person)."""

    value: Any = None
    refusal: DomainError | None = None

    @property
    def refused(self) -> bool:
        return self.refusal is not None

    @property
    def status(self) -> int:
        """The HTTP status of the page that shows the refusal."""
        return refusal_status(self.refusal) if self.refusal is not None else 200


def refusal_status(exc: DomainError) -> int:
    """The status of a refusal, on a page as in the API: the error class's own (core/errors.py)."""
    return exc.status


def show_refusal(exc: DomainError, form=None, *, field_names: dict[str, str] | None = None) -> None:
    """Put a refusal next to the fields it names, or at the top of the page.

    `field_names` maps a service's field name to the form's where they differ (the ledger's `actual_start` is
    the form's `start_time`); a refusal naming no field of the form is shown only in the message at the top.
    """
    placed = False
    if form is not None:
        for name, problem in exc.fields.items():
            name = (field_names or {}).get(name, name)
            field = getattr(form, name.replace("first_user.", "").replace(".", "_"), None)
            if field is not None and hasattr(field, "errors"):
                if isinstance(field.errors, tuple):  # WTForms leaves a tuple on a form that was not validated
                    field.errors = list(field.errors)
                field.errors.append(problem)
                placed = True
    # "error-summary" tells the page the details sit next to the fields; "error" is the whole message
    flash(exc.message, "error-summary" if placed else "error")


def run_action(call: Callable[[], Any], *, form=None, field_names: dict[str, str] | None = None,
               show: Callable[[DomainError, Any], None] | None = None, in_transaction: bool = True) -> Outcome:
    """Run `call` in one transaction; a refusal rolls it back, is shown (next to `form`'s fields when it names
    them, or by `show(exc, form)` for a page that places refusals its own way) and is returned, so the view
    only chooses the page to show.

    `in_transaction=False` is for a call that opens its own `db.transaction()` around its writes only, because
    its reading part is long (checking an uploaded catalogue) and must not hold the write lock meanwhile.
    """
    try:
        if in_transaction:
            with db.transaction():
                value = call()
        else:
            value = call()
    except DomainError as exc:
        if show is not None:
            show(exc, form)
        else:
            show_refusal(exc, form, field_names=field_names)
        return Outcome(refusal=exc)
    return Outcome(value=value)
