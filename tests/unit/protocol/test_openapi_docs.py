"""``docs/openapi/device-v1.json``, ``ddi-v1.json`` and ``admin-v1.json`` are the code's own OpenAPI
(issue 11 §2): a test regenerates them and fails when a file drifts (run ``make docs``), and
checks what the documents promise: the bearer scheme, one error shape, bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lockstep_tools import openapi_docs

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def generated() -> dict[str, dict[str, Any]]:
    return openapi_docs.documents()


@pytest.mark.parametrize("name", sorted(openapi_docs.APIS))
def test_the_published_document_is_the_codes(generated: dict[str, dict[str, Any]],
                                             name: str) -> None:
    published = ROOT / "docs" / "openapi" / name
    assert published.is_file(), f"{published} missing: run `make docs`"
    assert published.read_text(encoding="utf-8") == openapi_docs.render(generated[name]), (
        f"{published} drifted from the code: run `make docs`")


@pytest.mark.parametrize("name", sorted(openapi_docs.APIS))
def test_bearer_auth_one_error_shape_and_bounds(generated: dict[str, dict[str, Any]],
                                               name: str) -> None:
    document = generated[name]
    [scheme] = document["components"]["securitySchemes"].values()
    if name == "ddi-v1.json":  # hawkBit's own schemes: TargetToken / GatewayToken
        assert (scheme["type"], scheme["in"], scheme["name"]) == (
            "apiKey", "header", "Authorization")
    else:
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/Problem"), (method, path, status)
            if "requestBody" in operation:
                assert "413" in operation["responses"], (method, path)
    for schema_name, schema in schemas.items():
        if schema_name.endswith(("Body", "Request")) or schema_name in {"Operator", "Code3"}:
            for field, spec in schema.get("properties", {}).items():
                assert _bounded(spec, schemas), f"{schema_name}.{field} has no bound"


def _bounded(spec: dict[str, Any], schemas: dict[str, Any]) -> bool:
    if "anyOf" in spec:
        return all(_bounded(s, schemas) for s in spec["anyOf"])
    if "$ref" in spec or "enum" in spec or "const" in spec:
        return True
    kind = spec.get("type")
    if kind == "string":
        return "maxLength" in spec or ("pattern" in spec and "maxLength" in spec)
    if kind == "array":
        return "maxItems" in spec and _bounded(spec["items"], schemas)
    if kind == "integer":
        return "maximum" in spec or "exclusiveMaximum" in spec
    if kind == "object":  # a map: how many entries, and each value bounded
        return ("maxProperties" in spec
                and _bounded(spec.get("additionalProperties", {"type": "null"}), schemas))
    return kind in ("boolean", "null")
