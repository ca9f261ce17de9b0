"""``/openapi.json`` as a client generator should read it.

FastAPI's document is post-processed once, when first asked for:

- error responses (each router declares its own with ``app.api.problem_docs``) are
  filed under ``application/problem+json``, the media type they are sent with;
  FastAPI's default ``{"detail": [...]}`` 422 is not documented, since it is
  never sent; every operation with a body documents the 400 FastAPI answers to a
  body it cannot decode (not UTF-8);
- every property of every schema gets its description and example from
  ``GLOSSARY`` (one meaning per field name, ``Model.field`` where a model means
  something more), unless its model states them itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from app.api.glossary import GLOSSARY

PROBLEM_JSON = "application/problem+json"


_UNREADABLE_BODY = {
    "description": "`bad_request`: the body could not be decoded (it is not UTF-8).",
    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}},
}


def _problem_media_type(spec: dict[str, Any]) -> None:
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if "requestBody" in operation:
                operation["responses"].setdefault("400", _UNREADABLE_BODY)
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if int(status) >= 400 and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")
    schemas = spec.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


def _describe_fields(spec: dict[str, Any]) -> None:
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        model = name.removesuffix("-Input").removesuffix("-Output")
        for field, prop in schema.get("properties", {}).items():
            entry = GLOSSARY.get(f"{model}.{field}") or GLOSSARY.get(field)
            if entry is None:
                continue  # the test of the document names it
            description, example = entry
            prop.setdefault("description", description)
            if "examples" in prop or "$ref" in str(prop):
                continue  # objects: their own fields carry the examples
            prop["examples"] = [prop.get("const", example)]


def install_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            _problem_media_type(spec)
            _describe_fields(spec)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
