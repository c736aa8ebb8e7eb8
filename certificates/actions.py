"""Every state change of the internal CA: one verb per function, atomic, audited in the same transaction.

Pages, the API, management commands and Celery tasks validate input, authorize, and call these.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.actions.core import ActionError
from accounts.models import Identity, IdentityKind, IdentityStatus
from certificates import pki
from certificates.models import (
    CA_KEY_CONTEXT,
    CaRole,
    Certificate,
    CertificateAuthority,
    CertificateProfile,
    CertificateRequest,
    CertificateStatus,
    CrlState,
    ExpiryNotice,
    RequestStatus,
    RevocationReason,
    TlsProfile,
)
from certificates.profiles import ensure_default_profiles
from certificates.tls import DEFAULT_TLS12_CIPHERS, DEFAULT_TLS13_SUITES, TlsProfileError, validate_tls_profile
from ztconsole.core import audit, hooks
from ztconsole.core.crypto import encrypt
from ztconsole.core.pagination import parse_position

ROOT_LIFETIME_DAYS = 20 * 365
ISSUING_LIFETIME_DAYS = 10 * 365
EXPIRY_THRESHOLDS = (30, 7, 1)
_DNS = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


class CertificateError(ActionError):
    """A refused CA action; the message names the problem, ``field`` the input at fault."""


def _actor(actor: Any):
    return actor if getattr(actor, "is_authenticated", False) else None


def _now():
    return timezone.now().replace(microsecond=0)


# --- the authority ----------------------------------------------------------------------------------


def issuing_ca() -> CertificateAuthority:
    ca = CertificateAuthority.objects.filter(role=CaRole.ISSUING, active=True).select_related("parent").first()
    if ca is None:
        raise CertificateError("no certificate authority yet: run `manage.py init_ca` first", field=None)
    return ca


def chain_pem() -> str:
    """The issuing CA then the root: what clients and enforcement points trust and present."""
    ca = issuing_ca()
    parts = [ca.certificate_pem]
    if ca.parent is not None:
        parts.append(ca.parent.certificate_pem)
    return "".join(part if part.endswith("\n") else part + "\n" for part in parts)


def _store_ca(role: str, cert: x509.Certificate, key, *, parent=None, imported=False) -> CertificateAuthority:
    return CertificateAuthority.objects.create(
        role=role,
        name=cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        if cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        else cert.subject.rfc4514_string()[:150],
        parent=parent,
        certificate_pem=pki.certificate_pem(cert),
        private_key=encrypt(pki.private_key_pem(key), context=CA_KEY_CONTEXT) if key is not None else "",
        key_description=str(pki.key_info(cert.public_key())),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        imported=imported,
    )


def _load_import(cert_pem: bytes, key_pem: bytes) -> tuple[list[x509.Certificate], Any]:
    try:
        certs = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as exc:
        raise CertificateError(f"the certificate file holds no PEM certificate: {exc}", field="import_cert") from None
    try:
        key = pki.load_private_key(key_pem)
    except pki.PkiError as exc:
        raise CertificateError(str(exc), field="import_key") from None
    head = certs[0]
    if pki.spki_sha256(head.public_key()) != pki.spki_sha256(key.public_key()):
        raise CertificateError("the private key does not belong to the first certificate", field="import_key")
    try:
        constraints = head.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise CertificateError("the imported certificate is not a CA (no basicConstraints CA:TRUE)", "import_cert")
    return certs, key


@transaction.atomic
def init_ca(
    actor: Any,
    *,
    use_rsa: bool = False,
    common_name: str = "ZT Console",
    import_cert_pem: bytes | None = None,
    import_key_pem: bytes | None = None,
    request: HttpRequest | None = None,
) -> CertificateAuthority:
    """Create a root and an issuing intermediate (ECDSA P-384, or RSA 4096), or import a CA and its key.

    An imported self-signed CA becomes the root and signs a new issuing intermediate; an imported
    intermediate needs its root after it in the certificate file (the root's key is not needed).
    """
    if CertificateAuthority.objects.filter(active=True).exists():
        raise CertificateError("a certificate authority already exists; this console has one CA", field=None)
    ensure_default_profiles()
    now = _now()
    if import_cert_pem is not None or import_key_pem is not None:
        if import_cert_pem is None or import_key_pem is None:
            raise CertificateError("an import needs both the certificate and its private key", field="import_cert")
        certs, key = _load_import(import_cert_pem, import_key_pem)
        head = certs[0]
        if head.issuer == head.subject:
            root = _store_ca(CaRole.ROOT, head, key, imported=True)
            root_cert, root_key = head, key
        else:
            if len(certs) < 2 or certs[-1].issuer != certs[-1].subject:
                raise CertificateError("an imported intermediate needs its root after it in the file", "import_cert")
            try:
                head.verify_directly_issued_by(certs[1])
            except (ValueError, TypeError, InvalidSignature) as exc:
                raise CertificateError(f"the chain in the file does not verify: {exc}", "import_cert") from None
            root = _store_ca(CaRole.ROOT, certs[-1], None, imported=True)
            issuing = _store_ca(CaRole.ISSUING, head, key, parent=root, imported=True)
            generate_crl(actor, authority=issuing)
            audit.record(
                actor, "ca.imported", issuing, {"root": root.name, "key_type": issuing.key_description}, request=request
            )
            return issuing
    else:
        root_key = pki.generate_ca_key(use_rsa)
        root_cert = pki.build_ca_certificate(
            key=root_key,
            common_name=f"{common_name} Root CA",
            not_before=now - pki.CLOCK_SKEW,
            not_after=now + timedelta(days=ROOT_LIFETIME_DAYS),
            path_len=1,
        )
        root = _store_ca(CaRole.ROOT, root_cert, root_key)
    issuing_key = pki.generate_ca_key(isinstance(root_key, rsa.RSAPrivateKey))
    issuing_cert = pki.build_ca_certificate(
        key=issuing_key,
        common_name=f"{common_name} Issuing CA",
        not_before=now - pki.CLOCK_SKEW,
        not_after=min(now + timedelta(days=ISSUING_LIFETIME_DAYS), root_cert.not_valid_after_utc),
        issuer_cert=root_cert,
        issuer_key=root_key,
        path_len=0,
    )
    issuing = _store_ca(CaRole.ISSUING, issuing_cert, issuing_key, parent=root)
    generate_crl(actor, authority=issuing)
    audit.record(
        actor,
        "ca.initialized",
        issuing,
        {"root": root.name, "key_type": issuing.key_description, "imported_root": root.imported},
        request=request,
    )
    return issuing


# --- checking a CSR against a profile and an identity ----------------------------------------------


def profile_by_name(name: str) -> CertificateProfile:
    ensure_default_profiles()
    profile = CertificateProfile.objects.filter(name=name).first()
    if profile is None:
        names = ", ".join(CertificateProfile.objects.values_list("name", flat=True))
        raise CertificateError(f"no certificate profile named {name!r} (profiles: {names})", field="profile")
    return profile


def identity_uri(identity: Identity) -> str:
    return f"{pki.IDENTITY_URI_PREFIX}{identity.pk}"


def comp_id_uri(comp_id: str) -> str:
    return f"{pki.COMP_ID_URI_PREFIX}{comp_id}"


def check_key(profile: CertificateProfile, key: pki.KeyInfo) -> None:
    if key.kind == "rsa":
        if not profile.allow_rsa:
            raise CertificateError(f"the {profile.name} profile does not allow RSA keys", field="csr")
        if key.bits < profile.rsa_min_bits:
            raise CertificateError(
                f"RSA {key.bits} is too small: the {profile.name} profile needs RSA {profile.rsa_min_bits} or more",
                field="csr",
            )
        if key.bits > 16384:
            raise CertificateError(f"RSA {key.bits} is larger than any key we accept (16384)", field="csr")
    elif key.kind == "ec":
        if key.curve not in profile.ec_curves:
            allowed = ", ".join(profile.ec_curves) or "none"
            raise CertificateError(
                f"elliptic curve {key.curve} is not allowed by the {profile.name} profile (allowed: {allowed})",
                field="csr",
            )
    elif key.kind == "ed25519":
        if not profile.allow_ed25519:
            raise CertificateError(f"the {profile.name} profile does not allow Ed25519 keys", field="csr")
    else:
        raise CertificateError(f"{key} keys are not supported (use RSA, ECDSA or Ed25519)", field="csr")


def _foreign_uri_owner(uri: str) -> str | None:
    if uri.startswith(pki.IDENTITY_URI_PREFIX):
        ident = uri.removeprefix(pki.IDENTITY_URI_PREFIX)
        other = Identity.objects.filter(pk=pk).first() if (pk := parse_position(ident)) is not None else None
        return str(other) if other else "an unknown identity"
    if uri.startswith(pki.COMP_ID_URI_PREFIX):
        comp_id = uri.removeprefix(pki.COMP_ID_URI_PREFIX)
        for other in Identity.objects.filter(sender_comp_ids__icontains=comp_id):
            if comp_id in other.sender_comp_ids:
                return str(other)
        return "no identity"
    return None


def subject_alternative_names(
    profile: CertificateProfile, identity: Identity, requested: pki.CsrInfo | None
) -> list[x509.GeneralName]:
    """The identity URI (and CompIDs for FIX clients) first, then what the CSR asked for, once each allowed."""
    own_uris = [identity_uri(identity)]
    if profile.include_comp_ids:
        own_uris += [comp_id_uri(c) for c in identity.sender_comp_ids]
    allowed_uris = {identity_uri(identity), *(comp_id_uri(c) for c in identity.sender_comp_ids)}
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in own_uris]
    if requested is None:
        return names
    kinds = set(profile.allowed_san_kinds)

    def refuse_kind(kind: str, label: str, value: str) -> None:
        if kind not in kinds:
            raise CertificateError(
                f"the {profile.name} profile does not allow {label} SANs (the CSR asks for {value})", field="csr"
            )

    if requested.other_sans:
        raise CertificateError(f"unsupported SAN types in the CSR: {', '.join(requested.other_sans)}", field="csr")
    for uri in requested.uris:
        refuse_kind("uri", "URI", uri)
        if uri in allowed_uris:
            if uri not in own_uris:
                own_uris.append(uri)
                names.append(x509.UniformResourceIdentifier(uri))
            continue
        owner = _foreign_uri_owner(uri)
        if owner is not None:
            raise CertificateError(f"the SAN {uri} names {owner}, not {identity}", field="csr")
        raise CertificateError(f"the URI SAN {uri} is not bound to {identity}; only its own URIs may appear", "csr")
    for dns in requested.dns_names:
        refuse_kind("dns", "DNS", dns)
        if not _DNS.match(dns.lower()):
            raise CertificateError(f"{dns!r} is not a DNS name we issue for (no wildcards)", field="csr")
        names.append(x509.DNSName(dns.lower()))
    for ip in requested.ip_addresses:
        refuse_kind("ip", "IP address", ip)
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise CertificateError(f"the IP SAN {ip} is not a single address", field="csr") from None
    for email in requested.emails:
        refuse_kind("email", "e-mail", email)
        if email.lower() != (identity.user.email or "").lower():
            raise CertificateError(f"the e-mail SAN {email} is not {identity}'s address", field="csr")
        names.append(x509.RFC822Name(email))
    return names


def _check_identity(identity: Identity, profile: CertificateProfile) -> None:
    if identity.status != IdentityStatus.ACTIVE:
        raise CertificateError(f"{identity} is {identity.status}: no certificate is issued to it", field="identity")
    if profile.include_comp_ids and not identity.sender_comp_ids:
        raise CertificateError(
            f"{identity} has no SenderCompID: a {profile.name} certificate lists the identity's CompIDs",
            field="identity",
        )


def _lifetime(profile: CertificateProfile, lifetime_days: int | None) -> int:
    if lifetime_days is None:
        return profile.max_lifetime_days
    if lifetime_days < 1 or lifetime_days > profile.max_lifetime_days:
        raise CertificateError(
            f"lifetime {lifetime_days} days is outside 1-{profile.max_lifetime_days} days for {profile.name}",
            field="lifetime_days",
        )
    return lifetime_days


@dataclass
class CheckedCsr:
    info: pki.CsrInfo
    sans: list[x509.GeneralName]
    lifetime_days: int


def check_csr(
    profile: CertificateProfile, identity: Identity, csr_pem: str | bytes, lifetime_days: int | None = None
) -> CheckedCsr:
    """Everything issuance checks, without writing: signature, key, CA flag, EKU, SANs, identity, lifetime."""
    try:
        info = pki.parse_csr(csr_pem)
    except pki.PkiError as exc:
        raise CertificateError(str(exc), field="csr") from None
    check_key(profile, info.key)
    if info.requests_ca:
        raise CertificateError("the CSR asks for CA:TRUE; only end-entity certificates are issued", field="csr")
    refused = [eku for eku in info.ekus if eku not in profile.extended_key_usage]
    if refused:
        raise CertificateError(
            f"the CSR asks for {', '.join(refused)}, which the {profile.name} profile does not allow "
            f"(allowed: {', '.join(profile.extended_key_usage)})",
            field="csr",
        )
    _check_identity(identity, profile)
    sans = subject_alternative_names(profile, identity, info)
    return CheckedCsr(info, sans, _lifetime(profile, lifetime_days))


# --- issuing, renewing, revoking --------------------------------------------------------------------


def _subject(identity: Identity) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, pki.ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, identity.kind),
            x509.NameAttribute(NameOID.COMMON_NAME, identity.username[:64]),
        ]
    )


def _sign_and_store(
    actor: Any,
    *,
    identity: Identity,
    profile: CertificateProfile,
    public_key,
    sans: list[x509.GeneralName],
    lifetime_days: int,
) -> Certificate:
    ca = issuing_ca()
    now = _now()
    not_after = min(now + timedelta(days=lifetime_days), ca.not_after)
    serial = x509.random_serial_number()
    cert = pki.build_leaf_certificate(
        public_key=public_key,
        subject=_subject(identity),
        sans=sans,
        ekus=list(profile.extended_key_usage),
        not_before=now - pki.CLOCK_SKEW,
        not_after=not_after,
        serial=serial,
        issuer_cert=ca.load_certificate(),
        issuer_key=ca.load_private_key(),
        crl_url=f"{settings.ZT_PKI_BASE_URL}/pki/crl.der" if settings.ZT_PKI_BASE_URL else "",
    )
    return Certificate.objects.create(
        serial=format(serial, "x"),
        identity=identity,
        profile=profile,
        issuer=ca,
        pem=pki.certificate_pem(cert),
        subject=cert.subject.rfc4514_string()[:400],
        key_description=str(pki.key_info(public_key)),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        issued_by=_actor(actor),
        sha256=pki.certificate_sha256(cert),
        spki_sha256=pki.spki_sha256(public_key),
    )


def _issued_details(cert: Certificate) -> dict:
    return {
        "serial": cert.serial,
        "identity": cert.identity.username,
        "profile": cert.profile.name,
        "key_type": cert.key_description,
        "not_after": cert.not_after.isoformat(),
        "sha256": cert.sha256,
        "spki_sha256": cert.spki_sha256,
    }


def check_not_own_identity(actor: Any, identity: Identity) -> None:
    """Four eyes on certificates: nobody issues, renews or approves one for themselves or an identity they sponsor.

    Those go through a request (``request_certificate``) that another issuer approves.
    """
    actor_id = getattr(actor, "pk", None)
    if actor_id is None:
        return
    sponsor_user_id = identity.sponsor.user_id if identity.sponsor_id else None
    if actor_id in (identity.user_id, sponsor_user_id):
        raise CertificateError(
            "you are or sponsor this identity: another issuer must issue its certificates", field="identity"
        )


@transaction.atomic
def issue_from_csr(
    actor: Any,
    *,
    identity: Identity,
    profile: CertificateProfile,
    csr_pem: str | bytes,
    lifetime_days: int | None = None,
    request: HttpRequest | None = None,
) -> Certificate:
    """Verify the CSR against the profile and the identity, then sign it with the issuing CA."""
    identity = Identity.objects.select_for_update().select_related("user").get(pk=identity.pk)
    check_not_own_identity(actor, identity)
    checked = check_csr(profile, identity, csr_pem, lifetime_days)
    cert = _sign_and_store(
        actor,
        identity=identity,
        profile=profile,
        public_key=checked.info.csr.public_key(),
        sans=checked.sans,
        lifetime_days=checked.lifetime_days,
    )
    audit.record(actor, "certificate.issued", cert, _issued_details(cert), request=request)
    return cert


def _lock(certificate: Certificate) -> Certificate:
    return (
        Certificate.objects.select_for_update()
        .select_related("identity", "identity__user", "profile")
        .get(pk=certificate.pk)
    )


@transaction.atomic
def renew_certificate(
    actor: Any,
    certificate: Certificate,
    *,
    csr_pem: str | bytes | None = None,
    revoke_old: bool = False,
    lifetime_days: int | None = None,
    request: HttpRequest | None = None,
) -> Certificate:
    """A new serial and validity for the same identity, with the same key (no CSR) or a new one (a CSR).

    The old certificate becomes superseded, or revoked with reason superseded when ``revoke_old``.
    """
    old = _lock(certificate)
    if old.status != CertificateStatus.ACTIVE:
        raise CertificateError(f"only an active certificate is renewed; this one is {old.status}", field="status")
    profile, identity = old.profile, old.identity
    check_not_own_identity(actor, identity)
    if csr_pem:
        checked = check_csr(profile, identity, csr_pem, lifetime_days)
        public_key, sans, days = checked.info.csr.public_key(), checked.sans, checked.lifetime_days
    else:
        public_key = pki.load_certificate(old.pem).public_key()
        check_key(profile, pki.key_info(public_key))
        _check_identity(identity, profile)
        decoded = pki.decode(pki.load_certificate(old.pem))
        requested = pki.CsrInfo(
            csr=None,  # type: ignore[arg-type]
            key=decoded.key,
            subject="",
            dns_names=decoded.dns_names,
            ip_addresses=decoded.ip_addresses,
            uris=decoded.uris,
            emails=decoded.emails,
        )
        # CompIDs may have changed since: keep only the URIs still bound to the identity.
        allowed = {identity_uri(identity), *(comp_id_uri(c) for c in identity.sender_comp_ids)}
        requested.uris = [u for u in requested.uris if u in allowed]
        sans, days = subject_alternative_names(profile, identity, requested), _lifetime(profile, lifetime_days)
    new = _sign_and_store(
        actor, identity=identity, profile=profile, public_key=public_key, sans=sans, lifetime_days=days
    )
    now = timezone.now()
    changes: dict[str, Any] = {"superseded_by": new}
    if revoke_old:
        changes |= {
            "status": CertificateStatus.REVOKED,
            "revocation_reason": RevocationReason.SUPERSEDED,
            "revoked_at": now,
            "revoked_by": _actor(actor),
            "revocation_comment": f"renewed as {new.serial}",
        }
    else:
        changes["status"] = CertificateStatus.SUPERSEDED
    Certificate.objects.filter(pk=old.pk, status=CertificateStatus.ACTIVE).update(**changes)
    details = _issued_details(new) | {"renews": old.serial, "old_revoked": revoke_old, "new_key_pair": bool(csr_pem)}
    crl = generate_crl(actor, authority=old.issuer) if revoke_old else None
    if crl is not None:
        details["crl_number"] = crl.number
    audit.record(actor, "certificate.renewed", new, details, request=request)
    if revoke_old:
        old.refresh_from_db()
        hooks.certificate_revoked.fire(actor, old, request=request)
    return new


@transaction.atomic
def revoke_certificate(
    actor: Any,
    certificate: Certificate,
    *,
    reason: str,
    comment: str = "",
    request: HttpRequest | None = None,
) -> Certificate:
    """Revoke with an RFC 5280 reason; the CRL is re-signed in the same transaction."""
    if reason not in RevocationReason.values:
        raise CertificateError(
            f"{reason!r} is not an RFC 5280 revocation reason ({', '.join(RevocationReason.values)})", "reason"
        )
    cert = _lock(certificate)
    changed = Certificate.objects.filter(
        pk=cert.pk, status__in=(CertificateStatus.ACTIVE, CertificateStatus.SUPERSEDED)
    ).update(
        status=CertificateStatus.REVOKED,
        revocation_reason=reason,
        revocation_comment=comment.strip()[:200],
        revoked_at=timezone.now(),
        revoked_by=_actor(actor),
    )
    if changed != 1:
        raise CertificateError(f"this certificate is {cert.status}; it cannot be revoked", field="status")
    cert.refresh_from_db()
    crl = generate_crl(actor, authority=cert.issuer)
    audit.record(
        actor,
        "certificate.revoked",
        cert,
        {
            "serial": cert.serial,
            "identity": cert.identity.username,
            "reason": reason,
            "comment": cert.revocation_comment,
            "crl_number": crl.number,
        },
        request=request,
    )
    hooks.certificate_revoked.fire(actor, cert, request=request)
    return cert


@transaction.atomic
def bind_certificate_to_device(
    actor: Any, certificate: Certificate, device: Any, *, request: HttpRequest | None = None
) -> Any:
    """Record that ``certificate``'s private key is held on ``device`` (a registered device of the same identity).

    The next compiled bundle then names that device for the certificate and scores its authentication as
    ``hardware`` (docs/pep.md, "Authentication assurance"). One certificate per device; an active certificate
    and an active device only.
    """
    from accounts.models import DeviceRegistration, DeviceStatus

    cert = _lock(certificate)
    if cert.status != CertificateStatus.ACTIVE:
        raise CertificateError(f"this certificate is {cert.status}; only an active one is bound", field="certificate")
    locked = DeviceRegistration.objects.select_for_update().filter(pk=device.pk).first()
    if locked is None or locked.status != DeviceStatus.ACTIVE:
        raise CertificateError("the device is not an active registered device", field="device")
    if locked.owner_id != cert.identity_id:
        raise CertificateError(f"{locked} belongs to {locked.owner}, not to {cert.identity}", field="device")
    taken = DeviceRegistration.objects.filter(certificate_fingerprint=cert.sha256).exclude(pk=locked.pk).first()
    if taken is not None:
        raise CertificateError(f"this certificate is already bound to {taken}", field="certificate")
    before = locked.certificate_fingerprint
    DeviceRegistration.objects.filter(pk=locked.pk).update(certificate_fingerprint=cert.sha256)
    locked.certificate_fingerprint = cert.sha256
    audit.record(
        actor,
        "device.certificate_bound",
        locked,
        {"serial": cert.serial, "sha256": cert.sha256, "previous_sha256": before, "owner": cert.identity.username},
        request=request,
    )
    return locked


@transaction.atomic
def revoke_certificates_of_identity(actor: Any, identity: Identity, *, request: HttpRequest | None = None) -> int:
    """Called when an identity is revoked: every certificate still valid goes on the CRL with it."""
    reason = (
        RevocationReason.AFFILIATION_CHANGED
        if identity.kind == IdentityKind.HUMAN
        else RevocationReason.CESSATION_OF_OPERATION
    )
    live = list(
        Certificate.objects.select_for_update()
        .filter(identity=identity, status__in=(CertificateStatus.ACTIVE, CertificateStatus.SUPERSEDED))
        .values_list("pk", "serial", "issuer_id")
    )
    if not live:
        return 0
    Certificate.objects.filter(pk__in=[pk for pk, _, _ in live]).update(
        status=CertificateStatus.REVOKED,
        revocation_reason=reason,
        revocation_comment="identity revoked",
        revoked_at=timezone.now(),
        revoked_by=_actor(actor),
    )
    for issuer_id in {issuer for _, _, issuer in live}:
        generate_crl(actor, authority=CertificateAuthority.objects.get(pk=issuer_id))
    audit.record(
        actor,
        "certificate.revoked_with_identity",
        identity,
        {"serials": [serial for _, serial, _ in live], "reason": reason},
        request=request,
    )
    for cert in Certificate.objects.filter(pk__in=[pk for pk, _, _ in live]).order_by("pk"):
        hooks.certificate_revoked.fire(actor, cert, request=request)
    return len(live)


# --- CRL ---------------------------------------------------------------------------------------------


def crl_pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN X509 CRL-----\n" + "\n".join(lines) + "\n-----END X509 CRL-----\n"


@transaction.atomic
def generate_crl(actor: Any = None, *, authority: CertificateAuthority | None = None) -> CrlState:
    """Sign the next CRL of ``authority`` (the issuing CA): number + 1, every revoked serial with its date and
    reason, nextUpdate ZT_CRL_NEXT_UPDATE_HOURS ahead. Callers audit it with the change that caused it."""
    ca = authority or issuing_ca()
    state, _ = CrlState.objects.get_or_create(authority=ca)
    state = CrlState.objects.select_for_update().get(pk=state.pk)
    ca_cert = ca.load_certificate()
    now = _now()
    number = state.number + 1
    revoked = (
        Certificate.objects.filter(issuer=ca, status=CertificateStatus.REVOKED)
        .order_by("revoked_at", "id")
        .values_list("serial", "revoked_at", "revocation_reason")
    )
    entries: list[x509.RevokedCertificate] = []
    for serial, revoked_at, reason in revoked.iterator(chunk_size=5000):
        entry = x509.RevokedCertificateBuilder().serial_number(int(serial, 16)).revocation_date(revoked_at)
        if reason and reason != RevocationReason.UNSPECIFIED:  # RFC 5280: omit rather than say unspecified
            entry = entry.add_extension(x509.CRLReason(x509.ReasonFlags(reason)), critical=False)
        entries.append(entry.build())
    # The list goes in at once: add_revoked_certificate copies the list per call (quadratic at 100k).
    builder = (
        x509.CertificateRevocationListBuilder(revoked_certificates=entries)
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(now + timedelta(hours=settings.ZT_CRL_NEXT_UPDATE_HOURS))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
    )
    key = ca.load_private_key()
    crl = builder.sign(key, pki.signing_hash(key))
    state.number = number
    state.last_update = now
    state.next_update = now + timedelta(hours=settings.ZT_CRL_NEXT_UPDATE_HOURS)
    state.der = crl.public_bytes(Encoding.DER)
    state.entries = len(entries)
    state.save()
    return state


@transaction.atomic
def refresh_crl_if_due() -> CrlState | None:
    """Beat: re-sign the CRL once less than a quarter of its validity remains (or none was ever signed)."""
    ca = CertificateAuthority.objects.filter(role=CaRole.ISSUING, active=True).first()
    if ca is None:
        return None
    state = CrlState.objects.filter(authority=ca).first()
    margin = timedelta(hours=settings.ZT_CRL_NEXT_UPDATE_HOURS) / 4
    if state is not None and state.next_update and state.next_update - timezone.now() > margin:
        return None
    state = generate_crl(None, authority=ca)
    audit.record(None, "crl.generated", ca, {"number": state.number, "entries": state.entries})
    return state


def current_crl() -> CrlState | None:
    ca = CertificateAuthority.objects.filter(role=CaRole.ISSUING, active=True).first()
    return CrlState.objects.filter(authority=ca).exclude(number=0).first() if ca else None


# --- OCSP (read-only: answers from the database, signed by the issuing CA) ---------------------------


def _ocsp_failure(status) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(Encoding.DER)


def _issuer_hashes(ca_cert: x509.Certificate, algorithm) -> tuple[bytes, bytes]:
    """CertID's issuerNameHash and issuerKeyHash (the subjectPublicKey bits, not the whole SPKI)."""
    public_key = ca_cert.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        bits = public_key.public_bytes(Encoding.DER, PublicFormat.PKCS1)
    else:
        bits = public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    digests = []
    for data in (ca_cert.subject.public_bytes(), bits):
        digest = hashes.Hash(algorithm)
        digest.update(data)
        digests.append(digest.finalize())
    return digests[0], digests[1]


def ocsp_response(data: bytes) -> bytes:
    """A DER OCSP response for a DER OCSP request about one certificate of the issuing CA (RFC 6960)."""
    try:
        req = ocsp.load_der_ocsp_request(data)
        serial, algorithm = req.serial_number, req.hash_algorithm
        name_hash, key_hash = req.issuer_name_hash, req.issuer_key_hash
    except (ValueError, UnsupportedAlgorithm):
        return _ocsp_failure(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    ca = CertificateAuthority.objects.filter(role=CaRole.ISSUING, active=True).first()
    if ca is None:
        return _ocsp_failure(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    ca_cert = ca.load_certificate()
    if (name_hash, key_hash) != _issuer_hashes(ca_cert, algorithm):
        return _ocsp_failure(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    cert = Certificate.objects.filter(issuer=ca, serial=format(serial, "x")).first()
    now = _now()
    revocation_time = revocation_reason = None
    if cert is None:
        status = ocsp.OCSPCertStatus.UNKNOWN
    elif cert.status == CertificateStatus.REVOKED:
        status, revocation_time = ocsp.OCSPCertStatus.REVOKED, cert.revoked_at
        if cert.revocation_reason and cert.revocation_reason != RevocationReason.UNSPECIFIED:
            revocation_reason = x509.ReasonFlags(cert.revocation_reason)
    else:
        status = ocsp.OCSPCertStatus.GOOD
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=name_hash,
            issuer_key_hash=key_hash,
            serial_number=serial,
            algorithm=algorithm,
            cert_status=status,
            this_update=now,
            next_update=now + timedelta(hours=1),
            revocation_time=revocation_time,
            revocation_reason=revocation_reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, ca_cert)
        .certificates([ca_cert])
    )
    nonce = next((e.value for e in req.extensions if isinstance(e.value, x509.OCSPNonce)), None)
    if nonce is not None:
        builder = builder.add_extension(nonce, critical=False)
    key = ca.load_private_key()
    return builder.sign(key, pki.signing_hash(key)).public_bytes(Encoding.DER)


# --- expiry watch ------------------------------------------------------------------------------------


@transaction.atomic
def watch_certificate_expiry() -> int:
    """Beat: mark expired certificates, raise one notice per certificate and threshold (30, 7, 1 days)."""
    now = timezone.now()
    expired = Certificate.objects.filter(status=CertificateStatus.ACTIVE, not_after__lte=now).update(
        status=CertificateStatus.EXPIRED
    )
    raised = 0
    for days in EXPIRY_THRESHOLDS:
        for cert in Certificate.objects.expiring_within(days).exclude(expiry_notices__threshold_days=days).for_list():
            try:
                with transaction.atomic():
                    ExpiryNotice.objects.create(certificate=cert, threshold_days=days)
            except IntegrityError:
                continue
            raised += 1
            audit.record(
                None,
                "certificate.expiring",
                cert,
                {"serial": cert.serial, "identity": cert.identity.username, "within_days": days},
            )
    if expired:
        audit.record(None, "certificate.expired", None, {"count": expired})
    from certificates.console import renew_console_credential_if_due

    renew_console_credential_if_due()  # the console's own client certificate is renewed by the same watch
    return raised


# --- requests by sponsors ----------------------------------------------------------------------------


@transaction.atomic
def request_certificate(
    actor: Any,
    *,
    identity: Identity,
    profile: CertificateProfile,
    csr_pem: str,
    lifetime_days: int | None = None,
    request: HttpRequest | None = None,
) -> CertificateRequest:
    """A sponsor submits a CSR for a non-person identity they sponsor; an issuer approves it later."""
    if identity.is_human or identity.sponsor is None or identity.sponsor.user_id != getattr(actor, "pk", None):
        raise CertificateError("you may request certificates only for identities you sponsor", field="identity")
    check_csr(profile, identity, csr_pem, lifetime_days)
    pending = CertificateRequest.objects.create(
        identity=identity, profile=profile, csr_pem=csr_pem.strip(), lifetime_days=lifetime_days, requested_by=actor
    )
    audit.record(
        actor,
        "certificate.requested",
        pending,
        {"identity": identity.username, "profile": profile.name},
        request=request,
    )
    return pending


def _decide(actor: Any, pending: CertificateRequest, status: str, reason: str = "") -> CertificateRequest:
    changed = CertificateRequest.objects.filter(pk=pending.pk, status=RequestStatus.PENDING).update(
        status=status, decided_by=_actor(actor), decided_at=timezone.now(), decision_reason=reason[:200]
    )
    if changed != 1:
        raise CertificateError("this request has already been decided", field="status")
    pending.refresh_from_db()
    return pending


@transaction.atomic
def approve_certificate_request(
    actor: Any, pending: CertificateRequest, *, request: HttpRequest | None = None
) -> Certificate:
    if getattr(actor, "pk", None) == pending.requested_by_id:
        raise CertificateError("someone other than the requester approves a request", field="status")
    pending = _decide(actor, pending, RequestStatus.APPROVED)
    cert = issue_from_csr(
        actor,
        identity=pending.identity,
        profile=pending.profile,
        csr_pem=pending.csr_pem,
        lifetime_days=pending.lifetime_days,
        request=request,
    )
    CertificateRequest.objects.filter(pk=pending.pk).update(certificate=cert)
    audit.record(actor, "certificate.request_approved", pending, {"serial": cert.serial}, request=request)
    return cert


@transaction.atomic
def reject_certificate_request(
    actor: Any, pending: CertificateRequest, *, reason: str, request: HttpRequest | None = None
) -> CertificateRequest:
    if not reason.strip():
        raise CertificateError("give a reason for the rejection", field="reason")
    pending = _decide(actor, pending, RequestStatus.REJECTED, reason)
    audit.record(actor, "certificate.request_rejected", pending, {"reason": reason}, request=request)
    return pending


# --- TLS profile -------------------------------------------------------------------------------------


def tls_profile() -> TlsProfile:
    profile, _ = TlsProfile.objects.get_or_create(
        pk=1, defaults={"tls12_ciphers": DEFAULT_TLS12_CIPHERS, "tls13_suites": DEFAULT_TLS13_SUITES}
    )
    return profile


@transaction.atomic
def update_tls_profile(
    actor: Any,
    *,
    min_version: str,
    tls12_ciphers: list[str],
    tls13_suites: list[str],
    request: HttpRequest | None = None,
) -> TlsProfile:
    """Validated (TLS 1.2+, ECDHE AEAD only) before anything is written."""
    try:
        validate_tls_profile(min_version, tls12_ciphers, tls13_suites)
    except TlsProfileError as exc:
        raise CertificateError(str(exc), field=exc.field) from None
    profile = tls_profile()
    before = profile.export()
    if min_version == "TLSv1.3":
        tls12_ciphers = []
    TlsProfile.objects.filter(pk=1).update(
        min_version=min_version,
        tls12_ciphers=tls12_ciphers,
        tls13_suites=tls13_suites,
        updated_by=_actor(actor),
        updated_at=timezone.now(),
    )
    profile.refresh_from_db()
    audit.record(actor, "tls_profile.updated", profile, {"before": before, "after": profile.export()}, request=request)
    return profile
