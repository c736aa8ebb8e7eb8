"""Schemathesis against our own OpenAPI schema, on the live ASGI app, as every role and as an API token.

Every operation of the schema gets generated requests (valid and invalid) from each caller; every response
runs through every schemathesis check but one (see EXCLUDED_CHECKS). The test fails on any 5xx, any response
that does not match the schema, and any other check failure, and lists them all (operation, caller, check,
status, URL).
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
from django.contrib.auth.models import Group
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from accounts.actions import create_api_token, create_non_person_identity
from accounts.models import IdentityKind
from tests.conftest import verify_session
from ztconsole.core.roles import ADMINISTRATOR

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.core.failures import Failure, FailureGroup  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]


@schemathesis.serializer("application/x-ndjson")
def _json_lines(ctx, value) -> bytes:
    """The PEP event feed's body (JSON Lines, docs/sessions.md): whatever was generated, as text lines."""
    import json

    if isinstance(value, bytes):
        return value
    return value.encode() if isinstance(value, str) else json.dumps(value).encode() + b"\n"


# Examples per operation and caller: more for the callers who may do the most. About 70 operations.
EXAMPLES = {"admin": 3, "security": 2, "trader": 1, "compliance": 1, "token": 2}


# Every check runs but one: positive_data_acceptance wants any schema-valid request accepted, yet a valid
# shape can still name an identity that does not exist, carry text that is not a CSR, or ask for a state
# change the object is not in; the API refuses those with a 400 naming the field, as it must.
EXCLUDED_CHECKS = [positive_data_acceptance]


@dataclass
class Caller:
    name: str
    headers: dict[str, str]
    cookies: dict[str, str] = field(default_factory=dict)


def _session_caller(name: str, persona) -> Caller:
    client = verify_session(Client(), persona)
    csrf = secrets.token_hex(16)  # a 32-character CSRF secret: cookie and header must carry the same value
    return Caller(
        name,
        headers={"X-CSRFToken": csrf},
        cookies={"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf},
    )


def _token_caller(personas) -> Caller:
    service = create_non_person_identity(
        None,
        name="fuzz-service",
        kind=IdentityKind.SERVICE,
        display_name="Fuzzing service",
        sponsor=personas["admin"].user.identity,
        environment="uat",
    )
    service.user.groups.add(Group.objects.get(name=ADMINISTRATOR))  # test setup, not the console's grant path
    _, plaintext = create_api_token(None, service.user, name="fuzz", scope="read-write", days=1)
    return Caller("token", headers={"Authorization": f"Bearer {plaintext}"})


def _load_schema(base: str, admin: Caller):
    answer = requests.get(f"{base}/api/v1/schema/?format=json", cookies=admin.cookies, timeout=30)
    assert answer.status_code == 200, answer.text[:500]
    schema = schemathesis.openapi.from_dict(answer.json())
    schema.config.base_url = base
    return schema


def test_schemathesis_finds_no_server_error_and_no_schema_violation(asgi_server, personas):
    callers = [
        _session_caller("admin", personas["admin"]),
        _session_caller("security", personas["security"]),
        _session_caller("trader", personas["trader"]),
        _session_caller("compliance", personas["compliance"]),
        _token_caller(personas),
    ]
    schema = _load_schema(asgi_server, callers[0])
    failures: list[str] = []
    sent: Counter[str] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60, "the schema lost operations"
    http = requests.Session()
    for caller in callers:
        for operation in operations:
            _fuzz(operation, caller, http, failures, sent)
    distinct = sorted(set(failures))
    report = "\n".join(distinct[:80])
    assert not failures, f"{len(failures)} failing requests of {sum(sent.values())}:\n{report}"
    assert sum(sent.values()) >= 300


def _fuzz(operation, caller: Caller, http: requests.Session, failures: list[str], sent: Counter[str]) -> None:
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES[caller.name],
        phases=[Phase.explicit, Phase.generate],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(case=strategy)
    def run(case):
        sent[caller.name] += 1
        response = case.call(session=http, headers=caller.headers, cookies=caller.cookies, timeout=30)
        try:
            case.validate_response(response, headers=caller.headers, excluded_checks=EXCLUDED_CHECKS)
        except FailureGroup as group:  # collect every failure; one broken operation must not hide the others
            for failure in group.exceptions:
                failures.append(_describe(operation.label, caller.name, response, failure))
        except Failure as failure:
            failures.append(_describe(operation.label, caller.name, response, failure))

    run()


def _describe(label: str, caller: str, response, failure) -> str:
    message = " ".join(str(failure.message).split())[:300]
    request = response.request
    return f"{label} as {caller}: {failure.code} {failure.title} [{response.status_code}] {message} <- {request.url}"
