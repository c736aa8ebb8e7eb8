"""Certificates react to identity revocation through the identity_revoked hook, and announce their own."""

from __future__ import annotations

import pytest

from accounts.actions import revoke_identity
from certificates import actions
from certificates.models import Certificate, CertificateStatus
from tests.certificates.helpers import make_csr
from tests.core.test_hooks import Recorder, receiving
from ztconsole.core import hooks
from ztconsole.core.models import AuditEvent


def _issue(identity):
    return actions.issue_from_csr(
        None, identity=identity, profile=actions.profile_by_name("fix-client"), csr_pem=make_csr()
    )


def _status(cert) -> str:
    return Certificate.objects.get(pk=cert.pk).status


def test_certificates_subscribe_to_identity_revoked_in_their_app_config():
    assert actions.revoke_certificates_of_identity in hooks.identity_revoked.receivers


def test_identity_revocation_revokes_certificates_after_the_identity_and_announces_each(ca, algo, personas):
    first, second = _issue(algo), _issue(algo)
    recorder = Recorder(read=_status)
    with receiving(hooks.certificate_revoked, recorder):
        revoke_identity(personas["admin"].user, algo, reason="decommissioned")
    assert sorted(call["subject"].pk for call in recorder.calls) == sorted([first.pk, second.pk])
    assert all(call["in_transaction"] and call["state"] == CertificateStatus.REVOKED for call in recorder.calls)
    # The identity's own change and audit event come first; the reaction of the higher layer follows.
    order = list(
        AuditEvent.objects.filter(action__in=["identity.revoked", "certificate.revoked_with_identity"])
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert order == ["identity.revoked", "certificate.revoked_with_identity"]


def test_a_failing_certificate_reaction_keeps_the_identity_active(ca, algo, personas):
    cert = _issue(algo)

    def refuse(actor, subject, *, request=None):
        raise actions.CertificateError("the CRL could not be signed")

    with receiving(hooks.certificate_revoked, refuse), pytest.raises(actions.CertificateError):
        revoke_identity(personas["admin"].user, algo, reason="decommissioned")
    algo.refresh_from_db()
    assert algo.status == "active" and _status(cert) == CertificateStatus.ACTIVE


def test_revoking_and_renewing_with_revoke_old_announce_the_revoked_certificate(ca, algo, personas):
    officer = personas["security"].user
    one, two = _issue(algo), _issue(algo)
    recorder = Recorder(read=_status)
    with receiving(hooks.certificate_revoked, recorder):
        actions.revoke_certificate(officer, one, reason="keyCompromise")
        actions.renew_certificate(officer, two, revoke_old=True)
    assert [call["subject"].pk for call in recorder.calls] == [one.pk, two.pk]
    assert all(call["state"] == CertificateStatus.REVOKED and call["actor"] == officer for call in recorder.calls)
