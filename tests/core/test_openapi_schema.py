"""The OpenAPI schema says what the responses hold: nullable fields, error answers, filters."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _nullable(schema, component: str, field: str) -> bool:
    prop = schema["components"]["schemas"][component]["properties"][field]
    if prop.get("nullable"):
        return True
    return any(part.get("$ref", "").endswith("NullEnum") for part in prop.get("oneOf", []))


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("ApiToken", "device"),
        ("Certificate", "revoked_by"),
        ("Certificate", "superseded_by"),
        ("Device", "approved_by"),
        ("Identity", "desk"),
        ("Identity", "sponsor"),
        ("Identity", "email"),
        ("Identity", "environment"),
        ("Identity", "employment_status"),
        ("Publication", "approver"),
        ("Me", "email"),
    ],
)
def test_fields_that_can_be_empty_are_nullable(schema, component, field):
    assert _nullable(schema, component, field), f"{component}.{field}"


def test_every_operation_documents_its_error_answers(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert {"400", "401", "403", "404"} <= set(operation["responses"]), f"{method.upper()} {path}"


@pytest.mark.parametrize("path", ["/api/v1/policy/segments/", "/api/v1/policy/publications/", "/api/v1/policy/bands/"])
def test_policy_lists_declare_their_environment_filter(schema, path):
    names = {parameter["name"] for parameter in schema["paths"][path]["get"].get("parameters", [])}
    assert "environment" in names


def test_page_size_is_a_bounded_integer(schema):
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/identities/"]["get"]["parameters"]}
    assert parameters["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 500}
