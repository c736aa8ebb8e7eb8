"""Registering, editing and retiring enforcement points: the certificate is issued and pinned in one step."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from accounts.models import Identity
from certificates.models import Certificate, CertificateStatus
from policies.distribution import actions
from policies.distribution.models import Delivery, EnforcementPoint, PointStatus, RevocationDelta
from tests.distribution.helpers import pep_key_and_csr, register
from ztconsole.core.models import AuditEvent


def test_registration_issues_a_pep_certificate_and_pins_it(personas, pki):
    creds = register("pep-ldn-1", actor=personas["admin"].user)
    point, cert = creds.point, creds.certificate
    assert cert.profile.name == "pep"
    assert point.pinned_sha256 == cert.sha256 and point.certificate_id == cert.pk
    assert point.identity.username == "pep-pep-ldn-1"
    assert point.identity.sponsor == personas["security"].user.identity  # not the issuer (four eyes)
    assert point.status == PointStatus.ACTIVE
    assert actions.point_for_token(creds.token) == point
    assert creds.token not in str(EnforcementPoint.objects.filter(pk=point.pk).values().get())  # digest only
    event = AuditEvent.objects.filter(action="enforcement.point_registered").get()
    assert event.details["pinned_sha256"] == cert.sha256


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("control_url", {"control_url": "http://127.0.0.1:9443"}),
        ("control_url", {"control_url": "https://127.0.0.1"}),
        ("name", {"name": "Bad Name"}),
        ("environment", {"environment": "staging"}),
        ("segments", {"segments": ["no-such-segment"]}),
        ("csr", {"csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nnot a csr\n-----END CERTIFICATE REQUEST-----\n"}),
    ],
)
def test_bad_registration_is_refused_naming_the_field_and_writes_nothing(personas, pki, field, kwargs):
    arguments = {
        "name": "pep-bad",
        "environment": "prod",
        "control_url": "https://127.0.0.1:9443",
        "csr_pem": pep_key_and_csr("pep-bad").csr_pem,
        **kwargs,
    }
    with pytest.raises(actions.ActionError) as refused:
        actions.register_enforcement_point(personas["admin"].user, **arguments)
    assert refused.value.field == field
    assert not EnforcementPoint.objects.exists()
    assert not Identity.objects.filter(user__username="pep-pep-bad").exists()
    assert not Certificate.objects.exists()


def test_a_name_is_registered_once(personas, pki):
    register("pep-one", actor=personas["admin"].user)
    with pytest.raises(actions.DistributionError) as refused:
        register("pep-one", actor=personas["admin"].user)
    assert refused.value.field == "name"


def test_retiring_revokes_its_certificate_and_tells_the_other_points(personas, pki, signing_key):
    retiring = register("pep-old", actor=personas["admin"].user)
    staying = register("pep-new", actor=personas["admin"].user)
    actions.retire_enforcement_point(personas["admin"].user, retiring.point, reason="decommissioned")
    retiring.point.refresh_from_db()
    assert retiring.point.status == PointStatus.RETIRED
    assert Certificate.objects.get(pk=retiring.certificate.pk).status == CertificateStatus.REVOKED
    assert actions.point_for_token(retiring.token) is None
    delta = RevocationDelta.objects.get(environment="prod")
    assert delta.certificates == [retiring.certificate.sha256]
    assert set(Delivery.objects.filter(revocation=delta).values_list("point__name", flat=True)) == {"pep-new"}
    assert staying.point.status == PointStatus.ACTIVE
    with pytest.raises(actions.DistributionError):
        actions.retire_enforcement_point(personas["admin"].user, retiring.point, reason="again")


def test_draining_points_receive_nothing_new(personas, published):
    creds = register("pep-drain", actor=personas["admin"].user)
    actions.update_enforcement_point(
        personas["admin"].user,
        creds.point,
        control_url="https://127.0.0.1:9444",
        segments=["rfq-gateway"],
        status="draining",
    )
    published()
    assert not Delivery.objects.filter(point=creds.point).exists()
    creds.point.refresh_from_db()
    assert creds.point.segments == ["rfq-gateway"] and creds.point.control_url == "https://127.0.0.1:9444"


def test_register_pep_command_writes_the_certificate_and_a_private_token(personas, pki, tmp_path):
    creds = pep_key_and_csr("pep-cli")
    csr = tmp_path / "pep.csr"
    csr.write_text(creds.csr_pem)
    out = tmp_path / "pep.crt"
    call_command(
        "register_pep",
        "--name=pep-cli",
        "--environment=uat",
        "--control-url=https://127.0.0.1:9555",
        f"--csr={csr}",
        f"--out={out}",
    )
    point = EnforcementPoint.objects.get(name="pep-cli")
    assert out.read_text() == point.certificate.pem
    token_file = tmp_path / "pep.crt.token"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert actions.point_for_token(token_file.read_text().strip()) == point


def test_register_pep_command_refuses_bad_input_with_the_field(personas, pki, tmp_path):
    csr = tmp_path / "pep.csr"
    csr.write_text(pep_key_and_csr("x").csr_pem)
    with pytest.raises(CommandError, match="control_url"):
        call_command(
            "register_pep",
            "--name=pep-cli",
            "--environment=prod",
            "--control-url=ftp://x",
            f"--csr={csr}",
            f"--out={tmp_path / 'c.pem'}",
        )
    with pytest.raises(CommandError, match="csr"):
        call_command(
            "register_pep",
            "--name=pep-cli",
            "--environment=prod",
            "--control-url=https://127.0.0.1:1",
            f"--csr={tmp_path / 'missing.csr'}",
            f"--out={tmp_path / 'c.pem'}",
        )
    assert not EnforcementPoint.objects.exists()


def test_api_registration_needs_step_up_and_returns_the_token_once(personas, pki, verified_client):
    from accounts.actions import VERIFIED_AT_SESSION_KEY

    client = verified_client(personas["admin"])
    body = {
        "name": "pep-api",
        "environment": "prod",
        "control_url": "https://127.0.0.1:9443",
        "csr": pep_key_and_csr("pep-api").csr_pem,
    }
    session = client.session
    session[VERIFIED_AT_SESSION_KEY] = 0  # verified long ago: step-up needed
    session.save()
    stale = client.post(reverse("api-enforcement-point-list"), body, content_type="application/json")
    assert stale.status_code == 403 and "fresh one-time code" in stale.json()["detail"]
    assert not EnforcementPoint.objects.exists()
    fresh = verified_client(personas["admin"]).post(
        reverse("api-enforcement-point-list"), body, content_type="application/json"
    )
    assert fresh.status_code == 201, fresh.content
    assert actions.point_for_token(fresh.json()["token"]).name == "pep-api"
    detail = verified_client(personas["compliance"]).get(
        reverse("api-enforcement-point-detail", kwargs={"pk": fresh.json()["id"]})
    )
    assert detail.status_code == 200 and "token" not in detail.json()
    bad = verified_client(personas["admin"]).post(
        reverse("api-enforcement-point-list"),
        {**body, "name": "pep-api2", "control_url": "x"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["field"] == "control_url"


def test_register_page_then_retire_page(personas, pki, verified_client):
    client = verified_client(personas["admin"])
    response = client.post(
        reverse("policies:enforcement_register"),
        {
            "name": "pep-page",
            "environment": "prod",
            "control_url": "https://127.0.0.1:9443",
            "csr": pep_key_and_csr("pep-page").csr_pem,
        },
    )
    assert response.status_code == 200
    point = EnforcementPoint.objects.get(name="pep-page")
    assert actions.point_for_token(response.context["token"]) == point
    refused = client.post(reverse("policies:enforcement_retire", kwargs={"pk": point.pk}), {"reason": ""})
    assert refused.status_code == 400
    done = client.post(reverse("policies:enforcement_retire", kwargs={"pk": point.pk}), {"reason": "moved"})
    assert done.status_code == 302
    point.refresh_from_db()
    assert point.status == PointStatus.RETIRED
