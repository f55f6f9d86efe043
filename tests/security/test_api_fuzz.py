"""Schemathesis against the app's own /api/v1/openapi.json, in-process through WSGI, as every role.

Each operation gets FUZZ_EXAMPLES inputs (schema-valid and schema-violating, from schemathesis), sent by a persona
of every role (and anonymous, and HTTP Basic where the document asks for it), with path, query and body ids drawn
from the world's objects as well as ids that name nothing, and whole numbers swapped for the edges of the database's
integer types. Every answer must: not be a 5xx; have a status, content type and body the document declares for the
operation; and, for an error, be the `{"error", "message", "fields"}` object of docs/api.md. The figures (inputs per
operation, statuses, 5xx) are printed; `scripts/fuzz.py --examples N` runs the same with more inputs.
"""

import base64
import traceback

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ..factories import PASSWORD
from ..fuzz_support import (
    MISSING_IDS,
    PERSONA_ROLES,
    Tally,
    World,
    build_world,
    fuzz_settings,
    id_strategy,
    selected,
    table_for,
)
from ..platform.test_api_errors import assert_error_shape

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EDGE_NUMBERS = [-1, 0, 2**31 - 1, 2**31, 2**53 + 1, 2**63, 2**64, 10**30]
# Texts that look like numbers or dates to a careless parser: other scripts' digits (str.isdigit says yes),
# overflowing numbers, impossible dates, and a long one.
EDGE_TEXTS = ["", "١٢٣٤٥٦", "²²²²²²", "１２３４５６", "9" * 30, "-1", "2026-02-30", "9999-12-31T24:00:00+08:00",
              "\u202e", "名" * 5000]
BASIC = "basic"  # HTTP Basic credentials of a real account, where the operation takes them (POST /tokens)

# Who mostly calls an operation of each tag, so that inputs get past authorisation often enough to reach the
# services (three inputs in four); the fourth comes from every persona. A tag missing here is fuzzed as everyone.
CALLERS = {
    "organizations": ["system_admin", "org_manager", "commission_officer", "anonymous"],
    "users": ["system_admin", "security_admin", "org_manager"],
    "auth": ["sme_user", "provider_operator"],
    "bookings": ["sme_user", "provider_operator"],
    "service records and revenue": ["provider_operator", "sme_user"],
    "instruments": ["provider_operator", "defence_operator", "defence_approver", "authority_approver"],
    "clearances": ["defence_operator", "defence_approver"],
    "resources": ["provider_operator", "system_admin"],
    "vouchers": ["sme_user", "commission_auditor", "commission_officer"],
    "statistics": ["provider_operator", "commission_officer", "anonymous"],
    "audit": ["audit_admin"],
}
EVERYONE = [name for name in PERSONA_ROLES if name != "anonymous"] + ["anonymous"]  # the simplest draw acts


def test_every_operation_survives_fuzzing_as_every_role(app, client, factory, frozen_clock, report_figure):
    world = build_world(app, factory, client)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    tally = Tally("API fuzz")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 80
    operations = [operation for operation in operations if selected(operation.label)]
    for operation in operations:
        fuzz(operation, world, tally)
    print(f"API fuzz: personas given back their account or token {world.heals} times")
    tally.report(report_figure)
    if tally.server_errors or tally.failures:
        pytest.fail(f"{tally.server_errors} answers were 5xx; the first failures:\n\n" + "\n\n".join(
            tally.failures[:20]), pytrace=False)


def fuzz(operation, world: World, tally: Tally) -> None:
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))
    security = operation.definition.raw.get("security", [])
    callers = [BASIC] if any("basic" in requirement for requirement in security) else \
        CALLERS.get((operation.definition.raw.get("tags") or [""])[0], EVERYONE)
    personas = st.sampled_from(callers) | st.sampled_from(callers) | st.sampled_from(callers) | st.sampled_from(
        EVERYONE)
    path_ids = {p.name: id_strategy(world, p.name) for p in operation.path_parameters if table_for(p.name)}

    @fuzz_settings()
    @given(case=cases, persona=personas, real_path=st.integers(0, 7), edges=st.booleans(), data=st.data())
    def run(case, persona, real_path, edges, data):
        if real_path and path_ids:  # seven inputs in eight name objects of the world (or missing ones)
            case.path_parameters = (case.path_parameters or {}) | {
                name: data.draw(strategy) for name, strategy in path_ids.items()}
        if edges:
            case.body = with_edge_values(case.body, data)
            case.query = with_edge_values(case.query, data)
        aim_ids(case, world, data)
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        send(case, persona, world, tally)

    run()


def with_edge_values(value, data):
    """Whole numbers swapped for the edges of the database's integer types and beyond (schemathesis draws small
    ones), texts for EDGE_TEXTS: a value no column holds must be refused as invalid, never reach the driver."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return data.draw(st.sampled_from([value, *EDGE_NUMBERS]))
    if isinstance(value, str):
        return data.draw(st.sampled_from([value, value, *EDGE_TEXTS]))
    if isinstance(value, dict):
        return {k: with_edge_values(v, data) for k, v in value.items()}
    if isinstance(value, list):
        return [with_edge_values(v, data) for v in value]
    return value


def aim_ids(case, world: World, data) -> None:
    """Point some `*_id` / `*_ids` query and body values at real objects."""
    for container in (case.query, case.body):
        if not isinstance(container, dict):
            continue
        for key, value in list(container.items()):
            single = key.removesuffix("s") if key.endswith("_ids") else key
            table = table_for(single) if single.endswith("_id") else None
            if table is None or not world.ids.get(table) or not data.draw(st.booleans()):
                continue
            real = st.sampled_from(world.ids[table]) | MISSING_IDS
            container[key] = data.draw(st.lists(real, max_size=3)) if isinstance(value, list) or key != single \
                else data.draw(real)


def send(case, persona_name: str, world: World, tally: Tally) -> None:
    """One request through the test client (schemathesis builds it), then every check; failures are collected."""
    label = case.operation.label
    tally.tried[label] += 1
    persona = world.personas.get(persona_name)
    if persona_name == BASIC:
        credentials = base64.b64encode(f"{world.basic_username}:{PASSWORD}".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}"}
    else:
        headers = persona.headers()
    request = case.as_transport_kwargs(headers=headers)
    try:
        response = world.client.open(**request)
    except Exception:  # an exception that escaped the app: what a client sees as a 500
        tally.answered(label, 500)
        tally.failures.append(f"{label} as {persona_name}: the app raised\n{request}\n{traceback.format_exc()}")
        return
    tally.answered(label, response.status_code)
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
        if response.status_code >= 400:
            assert_error_shape(response)
    except (AssertionError, FailureGroup) as failure:  # FailureGroup: schemathesis' checks (a BaseExceptionGroup)
        tally.failures.append(f"{label} as {persona_name}: {failure}\nrequest: {request}")
    if persona is not None and response.status_code == 401 and _error(response) == "invalid_token":
        world.heal(persona)  # a fuzzed call revoked its token, disabled it or suspended its organisation


def _error(response) -> str | None:
    body = response.get_json(silent=True)
    return body.get("error") if isinstance(body, dict) else None
