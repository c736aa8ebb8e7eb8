"""The console's own client certificate for the enforcement points' control API (profile ``console``).

It is not bound to an identity (the console is not one): its URI SAN is ``urn:ztconsole:console:<host>``,
which is what a PEP's control listener requires. ``init_ca`` issues it; the expiry watch renews it when
fewer than ``RENEW_WITHIN_DAYS`` remain.
"""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from certificates import pki
from certificates.models import CONSOLE_KEY_CONTEXT, ConsoleCredential
from ztconsole.core import audit
from ztconsole.core.crypto import encrypt

CONSOLE_URI_PREFIX = "urn:ztconsole:console"
RENEW_WITHIN_DAYS = 30


def console_uri() -> str:
    return f"{CONSOLE_URI_PREFIX}:{settings.ZT_CONSOLE_NAME or socket.gethostname()}"


def active_credential() -> ConsoleCredential | None:
    return ConsoleCredential.objects.filter(active=True).first()


@transaction.atomic
def issue_console_credential(actor: Any = None, *, request: HttpRequest | None = None) -> ConsoleCredential:
    """A fresh P-256 key and a ``console`` certificate for it; the previous credential stops being active."""
    from certificates.actions import CertificateError, issuing_ca, profile_by_name

    ca = issuing_ca()
    profile = profile_by_name("console")
    if "clientAuth" not in profile.extended_key_usage:
        raise CertificateError("the console profile must allow clientAuth to reach the enforcement points", None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = timezone.now().replace(microsecond=0)
    not_after = min(now + timedelta(days=profile.max_lifetime_days), ca.not_after)
    serial = x509.random_serial_number()
    uri = console_uri()
    cert = pki.build_leaf_certificate(
        public_key=key.public_key(),
        subject=x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, pki.ORGANIZATION),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "console"),
                x509.NameAttribute(NameOID.COMMON_NAME, uri.rsplit(":", 1)[-1][:64]),
            ]
        ),
        sans=[x509.UniformResourceIdentifier(uri)],
        ekus=list(profile.extended_key_usage),
        not_before=now - pki.CLOCK_SKEW,
        not_after=not_after,
        serial=serial,
        issuer_cert=ca.load_certificate(),
        issuer_key=ca.load_private_key(),
    )
    previous = ConsoleCredential.objects.select_for_update().filter(active=True).first()
    if previous is not None:
        previous.active = False
        previous.save(update_fields=["active"])
    credential = ConsoleCredential.objects.create(
        certificate_pem=pki.certificate_pem(cert),
        private_key=encrypt(pki.private_key_pem(key), context=CONSOLE_KEY_CONTEXT),
        serial=format(serial, "x"),
        sha256=pki.certificate_sha256(cert),
        uri=uri,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )
    audit.record(
        actor,
        "certificate.console_issued",
        ("certificates.consolecredential", credential.pk, str(credential)),
        {
            "serial": credential.serial,
            "uri": uri,
            "sha256": credential.sha256,
            "not_after": credential.not_after.isoformat(),
            "replaces": previous.serial if previous else None,
        },
        request=request,
    )
    return credential


def renew_console_credential_if_due() -> ConsoleCredential | None:
    """The expiry watch calls this: a new credential when the active one ends within RENEW_WITHIN_DAYS."""
    current = active_credential()
    if current is None or current.not_after > timezone.now() + timedelta(days=RENEW_WITHIN_DAYS):
        return None
    return issue_console_credential(None)
