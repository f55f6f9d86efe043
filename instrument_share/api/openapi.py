"""The OpenAPI 3.1 document, built from the operation registry so that every route is described."""

import re

from flask import jsonify

from .core import OPERATIONS, operation

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message", "fields"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                   "fields": {"type": "object", "additionalProperties": {"type": "string"}}},
}
GENERIC_ERRORS = {400: "Malformed request", 401: "Not authenticated", 403: "Not allowed",
                  404: "Absent or not visible", 409: "Conflict with current state", 422: "Invalid values"}
_PARAM_RE = re.compile(r"<(?:(\w+):)?(\w+)>")


def openapi_path(flask_path: str) -> tuple[str, list[dict]]:
    params = []

    def repl(match: re.Match) -> str:
        converter, name = match.group(1), match.group(2)
        params.append({"name": name, "in": "path", "required": True,
                       "schema": {"type": "integer" if converter == "int" else "string"}})
        return "{" + name + "}"

    return "/api/v1" + _PARAM_RE.sub(repl, flask_path), params


def error_response(description: str, codes: dict[str, str]) -> dict:
    """An error response; the operation's own codes are named in the description and given as examples."""
    media: dict = {"schema": {"$ref": "#/components/schemas/Error"}}
    if codes:
        description = f"{description}: " + ", ".join(sorted(codes))
        media["examples"] = {code: {"summary": meaning, "value": {"error": code, "message": meaning, "fields": {}}}
                             for code, meaning in sorted(codes.items())}
    return {"description": description, "content": {"application/json": media}}


def build_document() -> dict:
    paths: dict[str, dict] = {}
    schemas: dict[str, dict] = {"Error": ERROR_SCHEMA}
    for op in OPERATIONS:
        path, params = openapi_path(op.path)
        params += [{"name": name, "in": "query", "required": False, "schema": {"type": kind}}
                   for name, kind in op.query]
        entry = {
            "operationId": op.endpoint, "summary": op.summary, "tags": [op.tag], "parameters": params,
            "responses": {str(op.status): {"description": "Success", "content": {"application/json": {
                "schema": op.response if isinstance(op.response, dict) else {"type": "object"}}}}} | {
                str(code): error_response(text, op.errors.get(code, {})) for code, text in (
                    GENERIC_ERRORS | {code: "Error" for code in op.errors if code not in GENERIC_ERRORS}).items()},
        }
        if (op.body is not None or op.upload is not None) and "413" not in entry["responses"]:
            entry["responses"]["413"] = error_response("Body too large", {})
        if op.body is not None:
            schema = op.body.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in schema.pop("$defs", {}).items():
                schemas[name] = definition
            schemas[op.body.__name__] = schema
            entry["requestBody"] = {"required": op.method != "POST" or op.auth != "basic",
                                    "content": {"application/json": {"schema": {
                                        "$ref": f"#/components/schemas/{op.body.__name__}"}}}}
        if op.upload is not None:
            entry["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": [op.upload],
                "properties": {op.upload: {"type": "string", "format": "binary"}}}}}}
        if op.response is not None and not isinstance(op.response, dict):  # a named success body
            schema = op.response.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
            schemas |= schema.pop("$defs", {}) | {op.response.__name__: schema}
            entry["responses"][str(op.status)]["content"]["application/json"]["schema"] = {
                "$ref": f"#/components/schemas/{op.response.__name__}"}
        if op.auth == "required":
            entry["security"] = [{"bearer": []}]
        elif op.auth == "basic":
            entry["security"] = [{"basic": []}]
        elif op.auth == "optional":
            entry["security"] = [{}, {"bearer": []}]
        else:
            entry["security"] = []
        paths.setdefault(path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "InstrumentShare API", "version": "1.0.0",
                 "description": "Nanjing science-and-technology resource sharing platform (measures 18 and 19)."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}, "basic": {"type": "http", "scheme": "basic"}}},
    }


@operation("/openapi.json", "GET", "This OpenAPI document", tag="meta", auth="none")
def openapi_document():
    return jsonify(build_document())
