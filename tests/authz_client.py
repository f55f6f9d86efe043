"""Sending the authorisation matrix's requests: one signed-in identity per principal (a session cookie and CSRF token
for pages, a bearer token for the API), each request in a transaction that is rolled back afterwards, and the
outcome of a response (success or refusal).

Every request runs on one connection inside an outer transaction; the session joins it with SAVEPOINTs, so the
request's own commits (db.transaction) release a savepoint and the outer rollback undoes everything. Each cell thus
sees the world exactly as built, and one allowed call (confirming a booking, verifying an organisation) cannot
change what the next cell finds. Cookies are sent, never stored, for the same reason: a request that signs the
person out or changes the session leaves the principal's identity as it was.
"""

import base64
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import update

from instrument_share.accounts.models import User
from instrument_share.db import db

from .authz_matrix import PRINCIPALS
from .factories import PASSWORD, csrf_from, sign_in

ERROR_FLASHES = ("error", "error-summary")  # web.helpers.show_error: a refusal shown on the page it leads to


@contextmanager
def rolled_back(connection):
    """Everything the block writes on `connection`, committed or not, is undone at its end."""
    outer = connection.begin()
    db.session.remove()
    db.session.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield
    finally:
        db.session.remove()
        outer.rollback()
        db.session.configure(bind=db.engine, join_transaction_mode="conditional_savepoint")


@dataclass
class Identity:
    cookie: str  # the page session ("session=…")
    csrf: str  # a CSRF token valid for that session
    bearer: str | None  # API token (None: anonymous)
    basic: str | None  # HTTP Basic credentials (POST /api/v1/tokens)


class Principals:
    """Signs every principal in once (a two-factor code is single-use) and sends requests as any of them."""

    def __init__(self, app, factory, world):
        self.app = app
        self.client = app.test_client(use_cookies=False)
        self.identities: dict[str, Identity] = {}
        for name in PRINCIPALS:
            browser = app.test_client()
            user = world.users.get(name)
            if user is None:
                page = browser.get("/login")
            else:
                sign_in(browser, factory, user)
                page = browser.get("/profile/")
            assert page.status_code == 200, (name, page.status_code)
            basic = None if user is None else base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
            self.identities[name] = Identity(f"session={browser.get_cookie('session').value}",
                                             csrf_from(page.get_data(as_text=True)),
                                             world.bearers.get(name), basic)
        with db.transaction():  # the codes used to sign in may be used once more, by POST /api/v1/tokens
            db.session.execute(update(User).values(totp_last_step=None))
        self.connection = db.engine.connect()  # one connection for every request (no checkout, no ping each time)

    def close(self) -> None:
        self.connection.close()

    def send(self, principal: str, method: str, path: str, *, api: bool, basic: bool = False, form=None,
             json=None, files=None, query=None):
        me = self.identities[principal]
        headers, kwargs = {}, {"query_string": query}
        if api:
            if basic and me.basic:
                headers["Authorization"] = f"Basic {me.basic}"
            elif me.bearer and not basic:
                headers["Authorization"] = f"Bearer {me.bearer}"
            if files is not None:
                kwargs["data"] = files
            elif json is not None:
                kwargs["json"] = json
        else:
            # A refusal answers as JSON (web/errors.py: by request) instead of a rendered error page: the decision is
            # the same, and rendering thousands of error pages would take a fifth of the run.
            headers["Cookie"], headers["Accept"] = me.cookie, "application/json"
            if method != "GET":
                # The form's own field (prefixed forms read "<prefix>-csrf_token") and the header both carry it.
                fields = dict(form or {}) | (files or {})
                prefixes = {key.split("-", 1)[0] for key in fields if "-" in key}
                fields |= {"csrf_token": me.csrf} | {f"{p}-csrf_token": me.csrf for p in prefixes}
                headers["X-CSRFToken"] = me.csrf
                kwargs["data"] = fields
        with rolled_back(self.connection):
            response = self.client.open(path, method=method, headers=headers, **kwargs)
            response.get_data()  # read the body while the transaction is still open
            response.close()
        return response

    def flashes(self, response) -> list[tuple[str, str]]:
        """The messages the response left in the session for the next page."""
        for header in response.headers.getlist("Set-Cookie"):
            name, _, rest = header.partition("=")
            if name == "session":
                value = rest.split(";", 1)[0]
                if not value:
                    return []
                serializer = self.app.session_interface.get_signing_serializer(self.app)
                return [tuple(f) for f in serializer.loads(value).get("_flashes", [])]
        return []


def outcome(principals: Principals, response, *, api: bool) -> str:
    """"ok" (the request succeeded); a refusal: "refused", "login" (sign in first) or "flashed" (a redirect that shows
    an error message); or "error" (5xx: never acceptable)."""
    status = response.status_code
    if status >= 500:
        return "error"
    if 200 <= status < 300:
        return "ok"
    if 300 <= status < 400 and not api:
        target = urlsplit(response.headers.get("Location", ""))
        if target.path == "/login" and "next" in parse_qs(target.query):
            return "login"
        if any(category in ERROR_FLASHES for category, _message in principals.flashes(response)):
            return "flashed"  # e.g. org.toggle: the refusal is shown on the page it goes back to
        return "ok"
    return "refused"


def answer(response, *, api: bool) -> tuple:
    """What a response reveals, for comparing a foreign object with a missing one: status (and the API's code)."""
    if api and response.is_json:
        return response.status_code, (response.get_json() or {}).get("error")
    return (response.status_code,)
