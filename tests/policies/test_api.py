"""/api/v1/policy/: the same actions as the pages; bad input is a 400 naming the field, never a 500."""

from __future__ import annotations

import time

from accounts.actions import VERIFIED_AT_SESSION_KEY
from policies.models import PolicyVersion, PublicationState, Segment


def _post(client, url, data):
    return client.post(url, data, content_type="application/json", HTTP_ACCEPT="application/json")


def test_draft_objects_through_the_api(personas, verified_client, signing_key):
    client = verified_client(personas["admin"])
    response = _post(
        client,
        "/api/v1/policy/segments/",
        {"environment": "prod", "name": "oms", "resources": [{"name": "oms-fix", "address": "oms:9000"}]},
    )
    assert response.status_code == 201, response.json()
    segment = Segment.objects.get(name="oms")
    response = _post(
        client,
        "/api/v1/policy/segments/",
        {"environment": "uat", "name": "md-uat", "resources": [{"name": "md-feed"}]},
    )
    other = Segment.objects.get(name="md-uat")
    flow = {"source": segment.pk, "destination": segment.pk, "protocol": "fix", "port": 9443}
    assert _post(client, "/api/v1/policy/flows/", flow).status_code == 201
    response = _post(client, "/api/v1/policy/flows/", {**flow, "destination": other.pk})
    assert response.status_code == 400 and response.json()["field"] == "destination"
    response = _post(client, "/api/v1/policy/flows/", {**flow, "port": 70000})
    assert response.status_code == 400 and response.json()["field"] == "port"
    response = _post(client, "/api/v1/policy/segments/", {"environment": "prod", "name": "md", "resources": []})
    assert response.status_code == 400 and response.json()["field"] == "resources"

    response = _post(
        client,
        "/api/v1/policy/access-rules/",
        {
            "environment": "prod",
            "name": "traders-oms",
            "subject_kind": "role",
            "subject_role": "Trader",
            "target_segment": segment.pk,
            "message_types": ["D"],
        },
    )
    assert response.status_code == 201, response.json()
    assert response.json()["subject"] == "Trader" and response.json()["target"] == "oms"

    response = _post(
        client,
        "/api/v1/policy/risk-rules/",
        {"environment": "prod", "name": "x", "attribute": "device", "condition": "unknown", "score": 500},
    )
    assert response.status_code == 400 and response.json()["field"] == "score"
    response = _post(client, "/api/v1/policy/network-zones/", {"environment": "prod", "name": "z", "cidrs": ["1.2.3"]})
    assert response.status_code == 400 and response.json()["field"] == "cidrs"
    response = client.put(
        "/api/v1/policy/bands/",
        {"environment": "prod", "step_up": 40, "deny": 30},
        content_type="application/json",
    )
    assert response.status_code == 400 and response.json()["field"] == "deny"
    assert client.get("/api/v1/policy/bands/?environment=prod").json() == {
        "environment": "prod",
        "step_up": 20,
        "deny": 40,
    }
    response = client.put(
        "/api/v1/policy/bands/", {"environment": "prod", "step_up": 25, "deny": 45}, content_type="application/json"
    )
    assert response.json() == {"environment": "prod", "step_up": 25, "deny": 45}
    listing = client.get("/api/v1/policy/risk-rules/?environment=prod").json()
    assert len(listing["results"]) == 11


def test_publication_maker_checker_through_the_api(rfq_policy, personas, verified_client):
    author = verified_client(personas["admin"])
    response = _post(author, "/api/v1/policy/publications/", {"environment": "prod"})
    assert response.status_code == 201
    pk = response.json()["id"]
    response = _post(author, f"/api/v1/policy/publications/{pk}/approve/", {})
    assert response.status_code == 400 and "second person" in response.json()["detail"]

    approver = verified_client(personas["security"])
    session = approver.session
    session[VERIFIED_AT_SESSION_KEY] = time.time() - 3600
    session.save()
    assert _post(approver, f"/api/v1/policy/publications/{pk}/approve/", {}).status_code == 403
    session = approver.session
    session[VERIFIED_AT_SESSION_KEY] = time.time()
    session.save()
    response = _post(approver, f"/api/v1/policy/publications/{pk}/approve/", {})
    assert response.status_code == 200 and response.json()["state"] == "approved"
    detail = approver.get(f"/api/v1/policy/publications/{pk}/").json()
    assert detail["bundle"]["header"]["kid"] == detail["kid"]
    assert PolicyVersion.objects.get(pk=pk).state == PublicationState.APPROVED

    response = _post(author, "/api/v1/policy/publications/rollback/", {"environment": "prod", "version": 7})
    assert response.status_code == 400 and response.json()["field"] == "version"
    response = _post(author, "/api/v1/policy/publications/rollback/", {"environment": "prod", "version": 1})
    assert response.status_code == 201 and response.json()["version"] == 2 and response.json()["rollback_of"] == 1
    response = _post(approver, f"/api/v1/policy/publications/{response.json()['id']}/reject/", {})
    assert response.status_code == 400 and "reason" in response.json()
