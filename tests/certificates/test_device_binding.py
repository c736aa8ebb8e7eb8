"""A certificate whose key lives on a registered device is bound to it: the bundle then names the device and
scores the certificate's authentication as hardware (docs/pep.md, "Authentication assurance")."""

from __future__ import annotations

import pytest

from accounts.actions import create_non_person_identity
from accounts.actions.devices import register_device, retire_device
from certificates import actions
from certificates.actions import CertificateError, bind_certificate_to_device
from tests.certificates.helpers import ec_key, make_csr
from ztconsole.core.models import AuditEvent


def _issue(identity):
    return actions.issue_from_csr(
        None, identity=identity, profile=actions.profile_by_name("fix-client"), csr_pem=make_csr(ec_key())
    )


def _device(identity, serial: str):
    return register_device(None, owner=identity, kind="algo_host", platform="RHEL 9", serial=serial)


def test_binding_marks_the_certificate_as_held_on_the_device_in_the_bundle(ca, algo):
    from policies.compiler import _certificate_bindings

    certificate, device = _issue(algo), _device(algo, "RACK-1")

    bind_certificate_to_device(None, certificate, device)

    device.refresh_from_db()
    assert device.certificate_fingerprint == certificate.sha256
    binding = next(b for b in _certificate_bindings("uat") if b["sha256"] == certificate.sha256)
    assert binding == {
        "sha256": certificate.sha256,
        "identity": algo.username,
        "device": "RACK-1",
        "authentication": "hardware",
    }
    event = AuditEvent.objects.filter(action="device.certificate_bound").get()
    assert event.details["sha256"] == certificate.sha256


def test_binding_refuses_another_owners_device_a_revoked_certificate_and_a_second_device(ca, algo, personas):
    other = create_non_person_identity(
        None,
        name="algo-beta",
        kind="algorithm",
        display_name="Beta",
        sponsor=personas["trader"].user.identity,
        environment="uat",
        sender_comp_ids=["BETA1"],
    )
    certificate = _issue(algo)
    with pytest.raises(CertificateError) as refused:
        bind_certificate_to_device(None, certificate, _device(other, "RACK-B"))
    assert refused.value.field == "device"

    first = _device(algo, "RACK-1")
    bind_certificate_to_device(None, certificate, first)
    with pytest.raises(CertificateError) as refused:
        bind_certificate_to_device(None, certificate, _device(algo, "RACK-2"))
    assert refused.value.field == "certificate"

    retired = _device(algo, "RACK-3")
    retire_device(None, retired)
    with pytest.raises(CertificateError) as refused:
        bind_certificate_to_device(None, _issue(algo), retired)
    assert refused.value.field == "device"

    revoked = _issue(algo)
    actions.revoke_certificate(None, revoked, reason="keyCompromise")
    with pytest.raises(CertificateError) as refused:
        bind_certificate_to_device(None, revoked, _device(algo, "RACK-4"))
    assert refused.value.field == "certificate"
    assert AuditEvent.objects.filter(action="device.certificate_bound").count() == 1


def test_a_non_person_identity_can_be_given_expected_countries(db, personas):
    from accounts.actions.core import ActionError

    algo = create_non_person_identity(
        None,
        name="algo-gb",
        kind="algorithm",
        display_name="GB only",
        sponsor=personas["trader"].user.identity,
        environment="prod",
        sender_comp_ids=["GB1"],
        expected_countries=["gb", "GB"],
    )
    assert algo.expected_countries == ["GB"]
    with pytest.raises(ActionError) as refused:
        create_non_person_identity(
            None,
            name="algo-xx",
            kind="algorithm",
            display_name="Nowhere",
            sponsor=personas["trader"].user.identity,
            environment="prod",
            sender_comp_ids=["XX1"],
            expected_countries=["XX"],
        )
    assert refused.value.field == "expected_countries"
