"""Bad input never gives a 500: malformed bodies, wrong types, odd values, fuzzed bodies; errors by request type."""

import base64
import json
import re

import pytest
from flask import g
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instrument_share.accounts.roles import Role
from instrument_share.api.core import OPERATIONS
from instrument_share.db import db

from ..factories import PASSWORD, login, valid_uscc

PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
BODY_METHODS = ("POST", "PUT", "PATCH")


@pytest.fixture(autouse=True)
def _one_request_one_context(app):
    """Each request starts with a fresh `g` and identity map, as it does in production (one context per request)."""

    def fresh_request_state():
        g.pop("_login_user", None)
        db.session.expire_all()

    app.before_request_funcs.setdefault(None, []).insert(0, fresh_request_state)


def assert_error_shape(response, status: int | None = None) -> dict:
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    assert response.status_code < 500, (response.status_code, text)
    if status is not None:
        assert response.status_code == status, (response.status_code, text)
    assert response.mimetype == "application/json", text
    body = response.get_json()
    assert isinstance(body, dict)
    assert isinstance(body.get("error"), str) and body["error"]
    assert isinstance(body.get("message"), str) and body["message"]
    assert isinstance(body.get("fields"), dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in body["fields"].items())
    return body


@pytest.fixture
def people(factory):
    commission = factory.org("commission")
    enterprise = factory.org("enterprise")
    university = factory.org("university")
    users = {
        "system_admin": factory.user(commission, (Role.system_admin,)),
        "security_admin": factory.user(commission, (Role.security_admin,)),
        "officer": factory.user(commission, (Role.commission_officer,)),
        "manager": factory.user(enterprise, (Role.sme_user,), manager=True),
        "member": factory.user(enterprise, (Role.sme_user,)),
        "operator": factory.user(university, (Role.provider_operator,), manager=True),
    }
    tokens = {name: factory.token(user) for name, user in users.items()}
    return {"tokens": tokens, "users": users, "orgs": {"commission": commission, "enterprise": enterprise,
                                                        "university": university}}


def bearer(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


# Who may call each accounts route, so that the body is parsed by someone allowed to act.
CALLER = {
    ("POST", "/organizations"): "system_admin",
    ("PATCH", "/organizations/<int:org_id>"): "manager",
    ("POST", "/organizations/<int:org_id>/verify"): "system_admin",
    ("POST", "/organizations/<int:org_id>/suspend"): "system_admin",
    ("POST", "/organizations/<int:org_id>/relations"): "system_admin",
    ("POST", "/organizations/<int:org_id>/invitations"): "manager",
    ("POST", "/users"): "system_admin",
    ("POST", "/users/<int:user_id>/roles"): "security_admin",
    ("POST", "/users/<int:user_id>/disable"): "system_admin",
    ("POST", "/users/<int:user_id>/enable"): "system_admin",
}


def concrete_path(op_path: str, people: dict, choice: int = 0) -> str:
    """Fill path parameters with real ids (the enterprise, its member); unknown ones get a plausible id."""
    orgs, users = people["orgs"], people["users"]
    real = {"org_id": [orgs["enterprise"].id, orgs["university"].id],
            "user_id": [users["member"].id, users["operator"].id],
            "token_id": [99999], "role": ["sme_user", "provider_operator"]}

    def fill(match: re.Match) -> str:
        converter, name = match.group(1), match.group(2)
        values = real.get(name) or ([1, 2] if converter == "int" or name.endswith("_id") else ["x", "1"])
        return str(values[choice % len(values)])

    return "/api/v1" + PARAM.sub(fill, op_path)


BODY_OPS = [op for op in OPERATIONS if op.method in BODY_METHODS and op.body is not None]


def _op_id(op) -> str:
    return f"{op.method} {op.path}"


# ---------------------------------------------------------------- malformed bodies


MALFORMED = [b"{", b"{'name': 1}", b"\xff\xfe{}", b"[1, 2", b"nul", b'{"a": 1,}', b'{"a": NaN',
             b"[" * 5000 + b"]" * 5000]
NOT_OBJECTS = [[], [{"name": "x"}], "text", 42, None, True]


@pytest.mark.parametrize("op", [op for op in BODY_OPS if (op.method, op.path) in CALLER], ids=_op_id)
def test_malformed_json_and_bodies_that_are_not_objects_are_400_json(client, people, op):
    headers = bearer(people["tokens"][CALLER[(op.method, op.path)]])
    path = concrete_path(op.path, people)
    for raw in MALFORMED:
        response = client.open(path, method=op.method, data=raw, headers=headers, content_type="application/json")
        body = assert_error_shape(response, 400)
        assert body["error"] == "malformed_json", raw
    for payload in NOT_OBJECTS:
        response = client.open(path, method=op.method, data=json.dumps(payload), headers=headers,
                               content_type="application/json")
        assert_error_shape(response, 400)


def test_json_without_the_content_type_is_still_read(client, people):
    response = client.post(f"/api/v1/organizations/{people['orgs']['enterprise'].id}/invitations",
                           data=json.dumps({"email": "a@example.cn", "role": "sme_user"}),
                           headers=bearer(people["tokens"]["manager"]), content_type="text/plain")
    assert response.status_code == 201


def test_a_body_is_required_where_the_operation_needs_one(client, people):
    response = client.post("/api/v1/users", headers=bearer(people["tokens"]["system_admin"]))
    assert_error_shape(response, 400)


def test_an_oversized_body_is_413_json(client, people):
    size = client.application.config["MAX_CONTENT_LENGTH"] + 10
    response = client.post("/api/v1/organizations", data=b'{"name": "' + b"x" * size + b'"}',
                           headers=bearer(people["tokens"]["system_admin"]), content_type="application/json")
    assert_error_shape(response, 413)


# ---------------------------------------------------------------- wrong values name their fields


@pytest.mark.parametrize(("body", "fields"), [
    ({"name": 1, "uscc": valid_uscc(), "kind": "university"}, {"name"}),
    ({"name": "x", "uscc": 123456789012345678, "kind": "university"}, {"uscc"}),
    ({"name": "x", "uscc": valid_uscc(), "kind": "castle"}, {"kind"}),
    ({"name": "x", "uscc": valid_uscc(), "kind": "enterprise", "sme": {"staff_count": "12"}}, {"sme.staff_count"}),
    ({"name": "x", "uscc": valid_uscc(), "kind": "enterprise", "sme": {"staff_count": 1.0}}, {"sme.staff_count"}),
    ({"name": "x", "uscc": valid_uscc(), "kind": "enterprise", "sme": {"staff_count": True}}, {"sme.staff_count"}),
    ({"name": "x", "uscc": valid_uscc(), "kind": "enterprise", "sme": []}, {"sme"}),
    ({"name": "x", "uscc": valid_uscc(), "kind": "university", "superior_id": "7"}, {"superior_id"}),
    ({"name": "x", "uscc": valid_uscc(), "kind": "university", "status": "verified"}, {"status"}),
    ({"name": "x", "uscc": valid_uscc(), "kind": "university", "id": 5, "dishonest": True}, {"id", "dishonest"}),
    ({"uscc": valid_uscc(), "kind": "university"}, {"name"}),
    ({"name": "x", "uscc": valid_uscc(), "kind": "enterprise",
      "first_user": {"username": "abc", "password": PASSWORD, "email": "a@b.cn", "is_org_manager": True}},
     {"first_user.is_org_manager"}),
])
def test_wrong_types_and_unknown_fields_are_422_naming_the_fields(client, people, body, fields):
    response = client.post("/api/v1/organizations", json=body, headers=bearer(people["tokens"]["system_admin"]))
    result = assert_error_shape(response, 422)
    assert fields <= set(result["fields"]), result


@pytest.mark.parametrize(("path_kind", "body", "fields"), [
    ("roles", {"roles": [1]}, {"roles.0"}),
    ("roles", {"roles": "sme_user"}, {"roles"}),
    ("roles", {"roles": ["sme_user"], "granted_by_id": 1}, {"granted_by_id"}),
    ("users", {"username": "abc", "password": PASSWORD, "email": "a@b.cn", "organization_id": "1"},
     {"organization_id"}),
    ("users", {"username": "abc", "password": PASSWORD, "email": "a@b.cn", "organization_id": 1,
               "is_org_manager": True}, {"is_org_manager"}),
    ("relations", {"other_id": 1.5, "kind": "subsidiary"}, {"other_id"}),
    ("relations", {"other_id": 2**64, "kind": "subsidiary"}, {"other_id"}),
    ("relations", {"other_id": -3, "kind": "subsidiary"}, {"other_id"}),
    ("relations", {"other_id": 2, "kind": None}, {"kind"}),
    ("patch", {"dishonest": True, "verified_at": "2026-01-01"}, {"verified_at"}),
    ("patch", {"sme": {"annual_revenue_fen": 10**30}}, {"sme.annual_revenue_fen"}),
    ("patch", {"sme": {"staff_count": 2**31}}, {"sme.staff_count"}),
    ("patch", {"contact_name": ["a"]}, {"contact_name"}),
    ("patch", {"contact_name": "张" * 101}, {"contact_name"}),
    ("patch", {"contact_email": "不是邮箱"}, {"contact_email"}),
    ("patch", {"address": "a\u0000b"}, {"address"}),
    ("patch", {"sme": {"tech_sme_no": "x" * 65}}, {"sme.tech_sme_no"}),
])
def test_wrong_values_elsewhere_are_422_naming_the_fields(client, people, path_kind, body, fields):
    orgs, users = people["orgs"], people["users"]
    method, path, who = {
        "roles": ("POST", f"/api/v1/users/{users['member'].id}/roles", "security_admin"),
        "users": ("POST", "/api/v1/users", "system_admin"),
        "relations": ("POST", f"/api/v1/organizations/{orgs['enterprise'].id}/relations", "system_admin"),
        "patch": ("PATCH", f"/api/v1/organizations/{orgs['enterprise'].id}", "manager"),
    }[path_kind]
    response = client.open(path, method=method, json=body, headers=bearer(people["tokens"][who]))
    result = assert_error_shape(response, 422)
    assert fields <= set(result["fields"]), result


def test_raw_json_with_a_nul_or_a_lone_surrogate_is_422_not_500(client, people):
    path = f"/api/v1/organizations/{people['orgs']['enterprise'].id}"
    for raw in ('{"contact_name": "a\\u0000b"}', '{"contact_name": "\\ud800"}', '{"address": "x\\udfffy"}',
                '{"sme": {"tech_sme_no": "\\u0000"}}', '{"\\u0000": 1}'):
        response = client.patch(path, data=raw, content_type="application/json",
                                 headers=bearer(people["tokens"]["manager"]))
        assert_error_shape(response, 422)
    raw = json.dumps({"name": "@", "uscc": valid_uscc(), "kind": "enterprise",
                      "first_user": {"username": "abc@", "password": PASSWORD, "email": "a@b.cn"}})
    raw = raw.replace('"@"', '"\\ud83d"').replace("abc@", "abc\\u0000")
    assert_error_shape(client.post("/api/v1/organizations", data=raw, content_type="application/json"), 422)


@pytest.mark.parametrize("value", ["", " ", "\t\n", "😀" * 50, "نام", "名" * 200, "名" * 201, "a" * 100_000,
                                   "<script>alert(1)</script>", "'; DROP TABLE users; --", "\u202e\u200b", "%00"])
def test_empty_long_and_unicode_strings_never_give_500(client, people, value):
    orgs, tokens = people["orgs"], people["tokens"]
    for method, path, who, body in (
        ("POST", "/api/v1/organizations", "system_admin",
         {"name": value, "uscc": valid_uscc(), "kind": "university", "actual_controller": value,
          "contact_name": value, "address": value}),
        ("POST", "/api/v1/organizations", None,
         {"name": "企业", "uscc": value, "kind": "enterprise",
          "first_user": {"username": value, "password": value, "email": value}}),
        ("PATCH", f"/api/v1/organizations/{orgs['enterprise'].id}", "manager",
         {"contact_name": value, "contact_phone": value, "address": value, "sme": {"tech_sme_no": value}}),
        ("POST", f"/api/v1/organizations/{orgs['enterprise'].id}/invitations", "manager",
         {"email": value, "role": value}),
        ("POST", "/api/v1/users", "system_admin",
         {"username": value, "password": value, "email": value, "organization_id": orgs["enterprise"].id}),
        ("POST", f"/api/v1/organizations/{orgs['enterprise'].id}/suspend", "system_admin", {"reason": value}),
        ("POST", "/api/v1/tokens", None, {"name": value, "totp": value}),
    ):
        response = client.open(path, method=method, json=body, headers=bearer(tokens.get(who)))
        if response.status_code >= 400:
            assert_error_shape(response)
        else:
            assert "Traceback" not in response.get_data(as_text=True)
    # Odd credentials and query strings as well.
    creds = base64.b64encode(f"{value}:{value}".encode()).decode()
    assert_error_shape(client.post("/api/v1/tokens", headers={"Authorization": f"Basic {creds}"}), 401)
    for query in ({"q": value}, {"kind": value, "status": value}, {"page": value}, {"per_page": value}):
        response = client.get("/api/v1/organizations", query_string=query,
                              headers=bearer(tokens["system_admin"]))
        assert response.status_code in (200, 422)
        if response.status_code == 422:
            assert_error_shape(response)


@pytest.mark.parametrize("number", [2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63) - 1, 10**4000])
def test_huge_numbers_never_give_500(client, people, number):
    orgs, users, tokens = people["orgs"], people["users"], people["tokens"]
    cases = [
        ("POST", f"/api/v1/organizations/{orgs['enterprise'].id}/relations", "system_admin",
         {"other_id": number, "kind": "subsidiary"}),
        ("POST", "/api/v1/organizations", "system_admin",
         {"name": "x", "uscc": valid_uscc(), "kind": "defence_unit", "superior_id": number}),
        ("PATCH", f"/api/v1/organizations/{orgs['enterprise'].id}", "manager",
         {"sme": {"staff_count": number, "annual_revenue_fen": number, "total_assets_fen": number}}),
        ("POST", "/api/v1/users", "system_admin",
         {"username": "bignum", "password": PASSWORD, "email": "b@example.cn", "organization_id": number}),
    ]
    for method, path, who, body in cases:
        response = client.open(path, method=method, data=json.dumps(body), content_type="application/json",
                               headers=bearer(tokens[who]))
        assert response.status_code < 500, (path, response.get_data(as_text=True))
        if response.status_code >= 400:
            assert_error_shape(response)
    for path in (f"/api/v1/organizations/{number}", f"/api/v1/users/{number}",
                 f"/api/v1/organizations/{number}/relations", f"/api/v1/users?organization_id={number}",
                 f"/api/v1/audit/entries?actor_id={number}", f"/api/v1/organizations?page={number}",
                 f"/api/v1/organizations?per_page={number}"):
        response = client.get(path, headers=bearer(tokens["system_admin"]))
        assert response.status_code in (200, 403, 404, 422), (path, response.status_code)
        if response.status_code >= 400:
            assert_error_shape(response)
    response = client.post(f"/api/v1/users/{number}/roles", json={"roles": ["sme_user"]},
                           headers=bearer(tokens["security_admin"]))
    assert_error_shape(response, 404)
    assert users["member"].id  # the data is still there


def test_a_number_too_large_for_a_64_bit_id_is_404_on_pages_as_well(client):
    response = client.get(f"/organizations/{2**64}")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


# ---------------------------------------------------------------- unknown paths and methods


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/organizations/abc", "/api/v1/", "/api/v2/me",
                                  "/api/v1/users/1/roles/x/y", "/api/v1/organizations/1/unknown"])
def test_unknown_api_paths_are_404_json(client, path):
    for accept in ("text/html", "application/json", "*/*"):
        response = client.get(path, headers={"Accept": accept})
        body = assert_error_shape(response, 404)
        assert body["error"] == "not_found"


def test_a_wrong_method_on_an_api_path_is_405_json(client):
    response = client.put("/api/v1/me", headers={"Accept": "text/html"})
    assert_error_shape(response, 405)
    response = client.delete("/api/v1/organizations")
    assert_error_shape(response, 405)


def test_pages_answer_html_errors_and_json_when_asked(client):
    for path in ("/no-such-page", "/organizations/987654", "/admin/organizations/abc"):
        html = client.get(path)
        assert html.status_code == 404
        assert html.mimetype == "text/html"
        assert "<html" in html.get_data(as_text=True).lower()
        as_json = client.get(path, headers={"Accept": "application/json"})
        assert_error_shape(as_json, 404)
    html = client.get("/logout")  # POST only
    assert html.status_code == 405 and html.mimetype == "text/html"
    assert_error_shape(client.get("/logout", headers={"Accept": "application/json"}), 405)


def test_the_html_404_is_in_chinese_by_default(client):
    from instrument_share.web.errors import messages

    with client.application.test_request_context("/", headers={"Accept-Language": "zh"}):
        expected = messages()[404]
    page = client.get("/no-such-page").get_data(as_text=True)
    assert page.count(expected) >= 1


def test_a_forbidden_page_is_html_or_json_by_request(client, factory):
    user = factory.user(roles=(Role.sme_user,))
    login(client, user.username)
    page = client.get("/admin/organizations")
    assert page.status_code == 403 and page.mimetype == "text/html"
    assert_error_shape(client.get("/admin/organizations", headers={"Accept": "application/json"}), 403)


def test_an_unexpected_failure_is_500_without_a_stack_trace(app, client):
    def explode():
        raise RuntimeError("secret internal detail /etc/passwd")

    app.add_url_rule("/_explode_for_test", "explode_for_test", explode)
    app.add_url_rule("/api/v1/_explode_for_test", "api_explode_for_test", explode)
    for path, accept, mimetype in (("/_explode_for_test", "text/html", "text/html"),
                                   ("/_explode_for_test", "application/json", "application/json"),
                                   ("/api/v1/_explode_for_test", "text/html", "application/json")):
        response = client.get(path, headers={"Accept": accept})
        assert response.status_code == 500
        assert response.mimetype == mimetype
        text = response.get_data(as_text=True)
        assert "Traceback" not in text and "secret internal detail" not in text and "RuntimeError" not in text
    body = client.get("/api/v1/_explode_for_test").get_json()
    assert body["error"] == "internal_error" and body["fields"] == {}


# ---------------------------------------------------------------- fuzzing every body route

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
                | st.sampled_from(["", "sme_user", "enterprise", "subsidiary", "system_admin", valid_uscc(),
                                   "a@example.cn", PASSWORD, "2026-12-01", "\u0000", "名称"]))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10)


def _body_strategy(op):
    names = list(op.body.model_fields) if op.body is not None else []
    keys = st.sampled_from(names) | st.text(max_size=10) if names else st.text(max_size=10)
    return st.dictionaries(keys, json_values, max_size=max(len(names), 3))


FUZZ_OPS = [op for op in OPERATIONS if op.method in (*BODY_METHODS, "DELETE")]
PERSONAS = ["system_admin", "security_admin", "officer", "manager", "member", "operator", None]


@pytest.mark.parametrize("op", FUZZ_OPS, ids=_op_id)
def test_fuzzed_bodies_never_give_500(client, people, op):
    tokens = people["tokens"]
    preferred = CALLER.get((op.method, op.path))

    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(body=_body_strategy(op), persona=st.sampled_from([preferred, *PERSONAS]),
           choice=st.integers(min_value=0, max_value=3))
    def run(body, persona, choice):
        headers = bearer(tokens.get(persona)) if persona else {}
        response = client.open(concrete_path(op.path, people, choice), method=op.method, json=body,
                               headers=headers)
        if response.status_code >= 400:
            assert_error_shape(response)
        else:
            assert response.mimetype == "application/json"
            assert "Traceback" not in response.get_data(as_text=True)

    run()
