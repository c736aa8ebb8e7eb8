"""OpenAPI schema post-processing: every operation documents the error answers it can give.

drf-spectacular describes the success responses; the refusals (bad input, no credentials, no permission,
unknown object, wrong method, unsupported media type, throttling) come from the framework for every
operation alike, so they are added here once, with the one JSON shape they share.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "description": "An error: `detail` says what went wrong; a refused field is named in `field` and keyed by name.",
    "properties": {
        "detail": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "field": {"type": "string"},
    },
    "additionalProperties": True,
}

ERROR_RESPONSES = {
    "400": "The request is malformed or refused: the body names the field at fault.",
    "401": "No valid credentials: an OTP-verified console session or an API token is needed.",
    "403": "The caller lacks the permission this operation declares, or a step-up, or the token's scope.",
    "404": "No such object, or not one the caller may see.",
    "405": "The method is not allowed here.",
    "406": "The requested media type cannot be produced.",
    "413": "The request body is too large.",
    "415": "The request's media type is not accepted.",
    "429": "Too many attempts; try again later.",
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "put", "post", "patch", "delete", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_RESPONSES.items():
                responses.setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": reference}}}
                )
    return result
