"""Access control holds on every route: the authorisation matrix (tests/authz_matrix.py) asked cell by cell.

Every route of the URL map (pages and /api/v1, every method) × every principal × the own and another
organisation's object: a principal the matrix names must succeed, every other one must be refused (no 2xx, and for
pages no redirect except to the login page), and nothing may answer 5xx. A principal who may not see an object must
get exactly the answer a missing id gets. A route the matrix does not declare fails the first test by name.
"""

import re
import time

import pytest

from instrument_share import create_app

from ..authz_client import Principals, answer, outcome
from ..authz_matrix import MATRIX, OBJECTS, PRINCIPALS, accesses
from ..authz_requests import Cell, call_for, resolve, streams
from ..authz_world import MISSING, build_world
from ..conftest import BACKEND

IGNORED_METHODS = {"HEAD", "OPTIONS"}
PARAM = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, rule, method) for every route of the URL map."""
    return sorted((rule.endpoint, rule.rule, method) for rule in app.url_map.iter_rules()
                  for method in sorted((rule.methods or set()) - IGNORED_METHODS))


def _collect():
    app = create_app({"TESTING": True, "SECRET_KEY": "collect-only", "DATABASE_URL": "sqlite://"})
    return routes(app)


ROUTES = _collect()


def test_every_route_of_the_url_map_is_declared_in_the_matrix():
    undeclared = sorted({f"{method} {rule}  (endpoint {endpoint!r})" for endpoint, rule, method in ROUTES
                         if endpoint not in MATRIX})
    assert not undeclared, (
        "routes of the URL map not declared in the authorisation matrix — declare each in tests/authz_matrix.py "
        "(MATRIX['<endpoint>'] = who may succeed there); a body or URL parameter it needs goes in "
        "tests/authz_requests.py (CALLS), a new kind of object in tests/authz_world.py:\n  " + "\n  ".join(undeclared))
    live = {endpoint for endpoint, _rule, _method in ROUTES}
    assert not set(MATRIX) - live, f"MATRIX declares endpoints that no longer exist: {sorted(set(MATRIX) - live)}"
    methods = {}
    for endpoint, _rule, method in ROUTES:
        methods.setdefault(endpoint, set()).add(method)
    for endpoint in MATRIX:
        for access in accesses(endpoint):
            assert access.on is None or access.on in OBJECTS, f"{endpoint}: unknown object kind {access.on!r}"
            assert access.method is None or access.method in methods[endpoint], f"{endpoint}: no {access.method}"
            assert set(access.own) | set(access.other) <= set(PRINCIPALS), f"{endpoint}: unknown principal"


def _path(rule: str, endpoint: str, values: dict) -> str:
    def fill(match: re.Match) -> str:
        converter, args, name = match.groups()
        if name in values:
            return str(values[name])
        if converter == "any":  # one of the listed words; the first unless the call names one
            return args.split(",")[0].strip().strip("'\"")
        raise AssertionError(f"{endpoint}: no value for <{name}> in {rule} (tests/authz_requests.py)")

    return PARAM.sub(fill, rule)


class Run:
    """Sends the cells and keeps what went wrong."""

    def __init__(self, principals: Principals, world):
        self.principals, self.world = principals, world
        self.cells = self.requests = self.flash_refusals = 0
        self.flash_refusing: set[str] = set()  # endpoints that refuse by a redirect with an error message
        self.unexpected_success: list[str] = []
        self.wrongly_refused: list[str] = []
        self.errors: list[str] = []
        self.idor: list[str] = []

    def send(self, endpoint, rule, method, access, principal, side, refs):
        cell = Cell(refs, self.world, principal, side or "own")
        call = call_for(endpoint, access.variant)
        api = endpoint.startswith("api.")
        body = method != "GET"
        form = resolve(call.form, cell) if body else None
        path = _path(rule, endpoint, refs | resolve(call.params, cell))
        self.requests += 1
        return self.principals.send(
            principal, method, path, api=api, basic=endpoint == "api.create_token_post", form=form,
            json=resolve(call.json, cell) if body else None, query=resolve(call.query, cell),
            files=streams(call.files) if body and call.files else None), path

    def check(self, endpoint, rule, method, access):
        readers = OBJECTS.get(access.on) if access.on else None
        for principal in PRINCIPALS:
            missing = None
            for side in ("own", "other") if access.on else (None,):
                refs = self.world.refs(access.on, side, principal) if access.on else {}
                response, path = self.send(endpoint, rule, method, access, principal, side, refs)
                allowed = principal in (access.other if side == "other" else access.own)
                result = outcome(self.principals, response, api=endpoint.startswith("api."))
                self.cells += 1
                where = f"{method} {path} [{endpoint}{'/' + access.variant if access.variant else ''}" \
                        f"{', ' + side + ' ' + access.on if side else ''}] as {principal}: {response.status_code}"
                if result == "error":
                    self.errors.append(where)
                elif result == "ok" and not allowed:
                    self.unexpected_success.append(where + _brief(response))
                elif result != "ok" and allowed:
                    self.wrongly_refused.append(where + _brief(response))
                elif result == "flashed":
                    self.flash_refusals += 1
                    self.flash_refusing.add(endpoint)
                if readers is not None and principal not in (readers.other if side == "other" else readers.own):
                    if missing is None:
                        gone = dict.fromkeys(refs, MISSING)
                        missing, _path_missing = self.send(endpoint, rule, method, access, principal, side, gone)
                    api = endpoint.startswith("api.")
                    if answer(response, api=api) != answer(missing, api=api):
                        self.idor.append(f"{where}: {answer(response, api=api)} but a missing id answers "
                                         f"{answer(missing, api=api)}")


def _brief(response) -> str:
    if response.is_json:
        body = response.get_json() or {}
        return f" {body.get('error', '')} {body.get('message', '')}".rstrip()
    location = response.headers.get("Location")
    return f" → {location}" if location else ""


@pytest.fixture
def signed_in_world(app, factory, frozen_clock):
    # Every principal signs in once, before thousands of requests: on a busy machine that may take longer than the
    # idle timeout, which is measured in real time.
    app.config["IDLE_TIMEOUT_MINUTES"] = 24 * 60
    started = time.perf_counter()
    world = build_world(factory, frozen_clock)
    signed = Principals(app, factory, world)
    yield signed, world, time.perf_counter() - started
    signed.close()


def test_every_cell_of_the_matrix_answers_as_declared(signed_in_world, report_figure):
    signed, world, setup_seconds = signed_in_world
    started, cpu = time.perf_counter(), time.process_time()
    run = Run(signed, world)
    covered, undeclared = set(), []
    for endpoint, rule, method in ROUTES:
        if endpoint not in MATRIX:  # named by the test above; the rest of the matrix is still asked
            undeclared.append(f"{method} {rule}  (endpoint {endpoint!r})")
            continue
        for access in accesses(endpoint):
            if access.method in (None, method):
                run.check(endpoint, rule, method, access)
                covered.add((endpoint, rule, method))
    summary = (f"authz matrix ({BACKEND}): {run.cells} cells checked ({run.requests} requests), "
               f"unexpected 2xx/3xx = {len(run.unexpected_success)}, allowed but refused = {len(run.wrongly_refused)}, "
               f"5xx = {len(run.errors)}, IDOR answers differing from a missing id = {len(run.idor)}, "
               f"routes covered {len(covered)}/{len(ROUTES)} (refusals shown by a redirect with an error message: "
               f"{run.flash_refusals}{' by ' + ', '.join(sorted(run.flash_refusing)) if run.flash_refusing else ''}); "
               f"world and sign-in "
               f"{setup_seconds:.0f} s, requests "
               f"{time.perf_counter() - started:.0f} s ({time.process_time() - cpu:.0f} s CPU)")
    report_figure(summary)
    problems = [("UNEXPECTED SUCCESS (a principal the matrix does not name got through)", run.unexpected_success),
                ("5xx", run.errors), ("IDOR: another organisation's id answers unlike a missing one", run.idor),
                ("REFUSED although the matrix names the principal (world or body wrong, or a check too strict)",
                 run.wrongly_refused),
                ("NOT DECLARED in tests/authz_matrix.py (so not asked)", undeclared)]
    report = "\n".join(f"{title}:\n  " + "\n  ".join(items) for title, items in problems if items)
    assert not report, summary + "\n" + report
