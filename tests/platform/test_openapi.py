"""/api/v1/openapi.json: OpenAPI 3.1, every /api/v1 route of the URL map with its methods, every $ref resolving."""

import json
import re

import pytest

from instrument_share.api.core import OPERATIONS

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
FLASK_PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")

# The accounts part of the binding contract (docs/api.md, "Organisations and users", "Audit", "Conventions").
CONTRACT = [
    ("post", "/api/v1/tokens"),
    ("get", "/api/v1/me"),
    ("post", "/api/v1/organizations"),
    ("get", "/api/v1/organizations/{org_id}"),
    ("patch", "/api/v1/organizations/{org_id}"),
    ("post", "/api/v1/organizations/{org_id}/verify"),
    ("post", "/api/v1/organizations/{org_id}/suspend"),
    ("post", "/api/v1/organizations/{org_id}/relations"),
    ("get", "/api/v1/organizations/{org_id}/relations"),
    ("post", "/api/v1/organizations/{org_id}/invitations"),
    ("post", "/api/v1/users"),
    ("post", "/api/v1/users/{user_id}/roles"),
    ("get", "/api/v1/audit/entries"),
    ("get", "/api/v1/audit/verify"),
    ("get", "/api/v1/audit/anchors"),
    ("get", "/api/v1/openapi.json"),
]


def openapi_path(rule: str) -> str:
    return FLASK_PARAM.sub(lambda m: "{" + m.group(2) + "}", rule)


@pytest.fixture
def document(client) -> dict:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return json.loads(response.get_data(as_text=True))  # strict JSON, not just what Flask's helper accepts


def api_routes(app) -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            methods = {m.lower() for m in (rule.methods or set())} - {"head", "options"}
            routes.setdefault(openapi_path(rule.rule), set()).update(methods)
    return routes


def test_it_is_openapi_3_1_with_info_and_paths(document):
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    assert document["info"]["title"] and document["info"]["version"]
    assert isinstance(document["paths"], dict) and document["paths"]
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


def test_every_api_route_is_described_with_its_methods(app, document):
    routes = api_routes(app)
    assert routes
    documented = {path: {m for m in item if m in HTTP_METHODS} for path, item in document["paths"].items()}
    missing = {path: sorted(methods - documented.get(path, set())) for path, methods in routes.items()
               if methods - documented.get(path, set())}
    assert not missing, f"routes missing from openapi.json: {missing}"
    extra = {path: sorted(methods - routes.get(path, set())) for path, methods in documented.items()
             if methods - routes.get(path, set())}
    assert not extra, f"openapi.json describes operations that do not exist: {extra}"


def test_the_operation_registry_matches_the_url_map(app):
    registered = {(op.method.lower(), openapi_path("/api/v1" + op.path)) for op in OPERATIONS}
    in_map = {(m, path) for path, methods in api_routes(app).items() for m in methods}
    assert registered == in_map


def test_the_contract_operations_are_there(document):
    for method, path in CONTRACT:
        assert method in document["paths"].get(path, {}), (method, path)


def test_operations_are_complete(document):
    seen_ids = set()
    for path, item in document["paths"].items():
        assert path.startswith("/api/v1/")
        names_in_path = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            assert operation["operationId"] not in seen_ids
            seen_ids.add(operation["operationId"])
            assert operation["summary"]
            assert operation["responses"]
            assert all(re.fullmatch(r"[1-5]\d\d|default", code) for code in operation["responses"])
            assert any(code.startswith("2") for code in operation["responses"]), (method, path)
            params = operation.get("parameters", [])
            in_path = {p["name"] for p in params if p["in"] == "path"}
            assert in_path == names_in_path, (method, path)
            assert all(p["required"] is True for p in params if p["in"] == "path")
            for code, response in operation["responses"].items():
                assert response.get("description"), (method, path, code)


def test_bodies_and_success_codes_follow_the_contract(document):
    paths = document["paths"]
    assert "201" in paths["/api/v1/tokens"]["post"]["responses"]
    assert "201" in paths["/api/v1/organizations"]["post"]["responses"]
    assert "201" in paths["/api/v1/users"]["post"]["responses"]
    assert "200" in paths["/api/v1/organizations/{org_id}/verify"]["post"]["responses"]
    for method, path in (("post", "/api/v1/organizations"), ("patch", "/api/v1/organizations/{org_id}"),
                         ("post", "/api/v1/users"), ("post", "/api/v1/users/{user_id}/roles"),
                         ("post", "/api/v1/organizations/{org_id}/relations"),
                         ("post", "/api/v1/organizations/{org_id}/invitations")):
        body = paths[path][method]["requestBody"]["content"]["application/json"]["schema"]
        schema = resolve(document, body["$ref"])
        assert schema["type"] == "object"
        assert schema.get("additionalProperties") is False  # unknown fields are refused
    create = resolve(document, paths["/api/v1/organizations"]["post"]["requestBody"]["content"]
                     ["application/json"]["schema"]["$ref"])
    assert set(create["required"]) == {"name", "uscc", "kind"}
    assert {"region_code", "superior_id", "actual_controller", "sme", "first_user"} <= set(create["properties"])
    error = resolve(document, "#/components/schemas/Error")
    assert set(error["required"]) == {"error", "message", "fields"}


def resolve(document: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


def test_every_ref_resolves(document):
    refs = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    refs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    for ref in refs:
        resolve(document, ref)


def test_the_document_is_public_and_stable(client):
    anonymous = client.get("/api/v1/openapi.json").get_data()
    again = client.get("/api/v1/openapi.json").get_data()
    assert anonymous == again


def test_the_audit_verification_and_anchors_bodies_are_described(document):
    """docs/api.md v1.1: verify reports the head; the anchors list is public and holds {date, seq, hash}."""
    paths = document["paths"]
    verify = paths["/api/v1/audit/verify"]["get"]
    body = resolve(document, verify["responses"]["200"]["content"]["application/json"]["schema"]["$ref"])
    assert {"ok", "entries", "first_broken_seq", "head_seq", "head_hash", "anchors_checked",
            "anchor_mismatch"} <= set(body["required"])
    assert verify["security"] == [{"bearer": []}]
    anchors = paths["/api/v1/audit/anchors"]["get"]
    assert anchors["security"] == []  # anyone
    page = resolve(document, anchors["responses"]["200"]["content"]["application/json"]["schema"]["$ref"])
    item = resolve(document, page["properties"]["items"]["items"]["$ref"])
    assert set(item["required"]) == {"date", "seq", "hash"}
    assert item["properties"]["date"]["format"] == "date"


def documented_codes(document: dict, method: str, path: str, status: str) -> set[str]:
    response = document["paths"][path][method]["responses"][status]
    return set(response["content"]["application/json"].get("examples", {}))


def test_the_sign_in_and_role_codes_of_api_md_v1_1_are_documented(document):
    """Sign-in answers 401 invalid_credentials whatever the reason (account_locked is gone); roles 409 role_conflict."""
    assert "invalid_credentials" in documented_codes(document, "post", "/api/v1/tokens", "401")
    assert "role_conflict" in documented_codes(document, "post", "/api/v1/users/{user_id}/roles", "409")
    assert "account_locked" not in json.dumps(document)
    for status in ("401", "403"):
        for code, example in document["paths"]["/api/v1/tokens"]["post"]["responses"][status]["content"][
                "application/json"]["examples"].items():
            assert example["value"]["error"] == code and example["value"]["message"]
