"""Bad posts to every state-changing HTML route: never a 5xx, never a stack trace.

The routes come from the URL map (every POST outside /api/), so a new form is fuzzed as soon as it exists. Each is
posted by a principal who may use it (FORM_USERS, by blueprint with a few exceptions; a route of an undeclared
blueprint fails the test), signed in through the login form, with a valid CSRF token and FUZZ_EXAMPLES sets of
field values. The field names are the form's own: the names the view looks up in the posted data are recorded
(a request class whose form dictionary notes every lookup) and later examples draw from them, next to random names.
Values are empty, huge, unicode, control characters, negative and enormous numbers, impossible dates, files where
text is expected, and keys sent twice.
"""

import io
import itertools

import pytest
from flask import Request
from flask_wtf import FlaskForm
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import AnyConverter, IntegerConverter

from instrument_share.accounts.roles import Role
from instrument_share.forms import Form

from ..factories import csrf_from, login, sign_in
from ..fuzz_support import EXAMPLES, Persona, Tally, World, build_world, fuzz_settings, id_strategy, selected

# Who posts each route: by blueprint, with exceptions by endpoint. code_due and enrolment_due have given their
# password and are asked for the two-factor code, or to enrol a second factor first.
FORM_USERS = {
    "auth": "anonymous", "main": "anonymous",  # sign-in, registration, password reset, the language switch
    "admin": "system_admin", "categories": "system_admin",
    "org": "org_manager", "profile": "sme_user", "calendars": "sme_user", "notifications": "sme_user",
    "book": "sme_user", "vouchers": "sme_user",
    "provider": "provider_operator", "booking_admin": "provider_operator", "catalogue_import": "provider_operator",
    "bookings": "provider_operator", "ledger": "provider_operator", "adjustments": "provider_operator",
    "resources": "provider_operator",
    "approver": "defence_approver", "clearances": "defence_operator",
    "voucher_audit": "commission_auditor", "reports": "commission_officer",
}
FORM_USERS_BY_ENDPOINT = {
    "auth.logout": "sme_user", "auth.totp": "code_due", "auth.totp_enrol": "enrolment_due",
    "admin.user_grant": "security_admin", "admin.user_remove_role": "security_admin",
    "approver.approve": "authority_approver", "approver.revoke": "authority_approver",
    "bookings.cancel": "sme_user", "ledger.dispute": "sme_user", "ledger.rate": "sme_user",
    "voucher_audit.pay": "commission_officer", "voucher_audit.new_policy": "commission_officer",
}

HALF_SIGNED_IN = {"code_due": "/login/totp", "enrolment_due": "/login/totp/enrol"}
LOOKED_UP: set[str] = set()  # the names views asked the posted data for, during the current request


class RecordingMultiDict(ImmutableMultiDict):
    """The posted form (and query) as a view sees it, noting every name it asks for."""

    def __contains__(self, key):
        LOOKED_UP.add(key)
        return super().__contains__(key)

    def get(self, key, default=None, type=None):
        LOOKED_UP.add(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):
        LOOKED_UP.add(key)
        return super().getlist(key, type)

    def __getitem__(self, key):
        LOOKED_UP.add(key)
        return super().__getitem__(key)


class RecordingRequest(Request):
    parameter_storage_class = RecordingMultiDict


NUMBERS = ["0", "-1", "1.5", "1e309", "NaN", "-0", "2147483648", "9223372036854775808", "1" + "0" * 30, "9" * 400,
           "0x10", "1,000", "１２", "١٢٣٤٥٦", "²²²²²²", "１２３４５６"]  # other scripts' digits: str.isdigit() is true
DATES = ["2026-02-30", "2026-13-01", "0000-00-00", "0001-01-01", "9999-12-31", "99999-01-01", "2026-12-02",
         "2026-12-02T10:00", "24:00", "25:61", "10:00", "-10:00", "12/02/2026"]
TEXTS = ["", " ", "\t\r\n", "\x00", "a\x00b", "\x1b[31m", "\u202e\u200b", "😀" * 20, "名" * 300,
         "<script>alert(1)</script>", "' OR 1=1 --", "%00", "../../etc/passwd", "None", "true", "[]", "{}",
         "sme_user", "system_admin", "machine_time", "platform", "approve", "zh", "en", "91320100MA1W9XYZ3K"]
VALUES = st.one_of(st.sampled_from(NUMBERS + DATES + TEXTS), st.text(max_size=30),
                   st.integers(min_value=-(2**70), max_value=2**70).map(str),
                   st.integers(min_value=5_000, max_value=300_000).map(lambda n: "x" * n))
FILES = st.tuples(st.binary(max_size=2000).map(io.BytesIO), st.sampled_from(
    ["proof.pdf", "", "../../x.xlsx", "名.xlsx", "a" * 300 + ".csv", "x.exe"]))


def test_every_form_route_survives_bad_posts(app, client, factory, frozen_clock, report_figure):
    world = build_world(app, factory, client)
    world.personas |= {  # accounts of their own: wrong codes lock them
        "code_due": Persona("code_due", factory.user(roles=(Role.sme_user,), totp=True), (Role.sme_user,)),
        "enrolment_due": Persona("enrolment_due", factory.user(factory.org("commission"), (Role.commission_auditor,)),
                                 (Role.commission_auditor,))}
    app.request_class = RecordingRequest
    routes = form_routes(app)
    assert len(routes) > 60
    undeclared = sorted(rule.endpoint for rule in routes if principal(rule.endpoint) is None)
    assert not undeclared, f"say who posts these routes in FORM_USERS (test_form_fuzz.py): {undeclared}"
    sessions = Sessions(app, world)
    tally = Tally("Form fuzz")
    for rule in routes:
        if selected(rule.endpoint) or selected(rule.rule):
            fuzz(rule, sessions, world, tally)
    tally.report(report_figure)
    if tally.server_errors or tally.failures:
        pytest.fail(f"{tally.server_errors} answers were 5xx; the first failures:\n\n" + "\n\n".join(
            tally.failures[:20]), pytrace=False)


def test_every_form_derives_from_the_base_that_keeps_files_out_of_text_fields(app):
    def below(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from below(sub)

    forms = [cls for cls in below(FlaskForm) if cls.__module__.startswith("instrument_share.")]
    assert len(forms) > 40
    assert not [f"{cls.__module__}.{cls.__name__}" for cls in forms if not issubclass(cls, Form)]


def form_routes(app) -> list:
    return sorted((r for r in app.url_map.iter_rules() if "POST" in (r.methods or ())
                   and not r.rule.startswith("/api/")), key=lambda r: r.rule)


def principal(endpoint: str) -> str | None:
    return FORM_USERS_BY_ENDPOINT.get(endpoint) or FORM_USERS.get(endpoint.split(".")[0])


class Sessions:
    """A test client and its CSRF token per principal, signed in (or half signed in: password given, code still
    due); set up again when a post took the session or the account away."""

    def __init__(self, app, world: World):
        self.app, self.world, self.clients, self.tokens = app, world, {}, {}

    def get(self, name: str):
        if name not in self.clients:
            client = self.app.test_client()
            user = self.world.personas[name].user
            try:
                page = self._start(client, name, user)
            except AssertionError:  # a post suspended the organisation or locked the account: undo, retry
                self.world.heal(self.world.personas[name])
                page = self._start(client, name, user)
            self.clients[name], self.tokens[name] = client, csrf_from(page.get_data(as_text=True))
        return self.clients[name], self.tokens[name]

    def _start(self, client, name: str, user):
        if user is None:
            return client.get("/login")
        if name in HALF_SIGNED_IN:
            response = login(client, user.username)
            assert response.status_code == 302 and response.location == HALF_SIGNED_IN[name], response.location
            return client.get(HALF_SIGNED_IN[name])
        sign_in(client, self.world.factory, user)
        page = client.get("/profile/")
        assert page.status_code == 200, (name, page.status_code)
        return page

    def check(self, name: str, response) -> None:
        """Start again when a post took the session away: signed out, or refused (401) or sent to the sign-in page
        because the account or its organisation was changed by an earlier post."""
        if self.world.personas[name].user is None:
            return
        with self.clients[name].session_transaction() as session:
            kept = "pending_login" in session if name in HALF_SIGNED_IN else "_user_id" in session
        if not kept or response.status_code == 401 or (
                response.status_code in (302, 303) and response.location.startswith("/login")
                and response.location != HALF_SIGNED_IN.get(name)):
            self.world.heal(self.world.personas[name])
            del self.clients[name]


def path_strategy(rule, world: World):
    parts = {}
    for name in sorted(rule.arguments):
        converter = rule._converters[name]
        if isinstance(converter, AnyConverter):
            parts[name] = st.sampled_from(sorted(converter.items))
        elif isinstance(converter, IntegerConverter):
            parts[name] = id_strategy(world, name)
        else:
            parts[name] = st.sampled_from(world.strings.get(name, [])) | st.text(
                st.characters(codec="utf-8", exclude_characters="/"), min_size=1, max_size=20)
    return st.fixed_dictionaries(parts)


def fuzz(rule, sessions: Sessions, world: World, tally: Tally) -> None:
    """A quarter of the inputs with random names only, noting the names the view asks for; then the rest with
    those names as well (a strategy must not change while Hypothesis runs it)."""
    name = principal(rule.endpoint)
    urls = world.client.application.url_map.bind("localhost")
    known: set[str] = set()
    first = max(2, EXAMPLES // 4)
    for examples in (first, max(EXAMPLES - first, 1)):
        fields = sorted(known)
        keys = st.sampled_from(fields) | st.text(max_size=12) if fields else st.text(max_size=12)
        values = VALUES | st.lists(VALUES, min_size=2, max_size=3) | FILES  # a list: the key sent several times
        forms = st.dictionaries(keys, values, max_size=max(len(fields) + 1, 3))
        queries = st.dictionaries(keys, VALUES, max_size=2)  # views read some arguments (next, supersedes) too

        @fuzz_settings(examples)
        @given(args=path_strategy(rule, world), form=forms, query=queries)
        def run(args, form, query):
            path = urls.build(rule.endpoint, args, method="POST")
            client, token = sessions.get(name)
            # The valid token, also in the CSRF fields of prefixed forms (`dispute-csrf_token`) once seen.
            form = form | {key: token for key in known if key.endswith("csrf_token")} | {"csrf_token": token}
            LOOKED_UP.clear()
            tally.tried[rule.endpoint] += 1
            try:
                response = client.post(path, data=form, query_string=query)
            except Exception as exc:  # escaped the app's error handlers
                tally.answered(rule.endpoint, 500)
                tally.failures.append(f"POST {path} as {name} raised {exc!r}; query {query!r}, form {_short(form)}")
                return
            tally.answered(rule.endpoint, response.status_code)
            body = response.get_data(as_text=True)
            # A large body is a temporary file, which the test client leaves open when it follows no redirect.
            response.close()
            response.request.input_stream.close()
            if response.status_code >= 500 or "Traceback" in body or 'File "/' in body:
                tally.failures.append(f"POST {path} as {name}: {response.status_code}; query {_short(query)}, "
                                      f"form {_short(form)}")
            known.update(LOOKED_UP)
            sessions.check(name, response)

        run()


def _short(form: dict) -> str:
    return repr({k: (v if len(repr(v)) < 200 else repr(v)[:200] + "...") for k, v in itertools.islice(
        form.items(), 20)})
