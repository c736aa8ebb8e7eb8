"""The internal CA: authorities, profiles (like Vault roles), issued certificates, requests, CRL and TLS profile."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ztconsole.core.crypto import EncryptedSecretField

CA_KEY_CONTEXT = "ca-key"
CONSOLE_KEY_CONTEXT = "console-client-key"


class CertificatesAccess(models.Model):
    """Carries the certificate-authority permissions that roles grant; it has no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_certificates", "Can list and read certificates (without a wider role: those of own identities)"),
            ("issue_certificates", "Can issue and renew certificates from CSRs and approve certificate requests"),
            ("revoke_certificates", "Can revoke certificates"),
            ("manage_tls_profile", "Can edit the TLS profile the enforcement points apply"),
            ("request_certificate", "Can submit a CSR for an identity one sponsors, for approval"),
        ]

    def __str__(self) -> str:
        return "certificate authority permissions"


class CaRole(models.TextChoices):
    ROOT = "root", "Root"
    ISSUING = "issuing", "Issuing intermediate"


class CertificateAuthority(models.Model):
    """A root or issuing CA. The private key is AES-GCM encrypted (context ``ca-key``) and never leaves here."""

    role = models.CharField(max_length=8, choices=CaRole.choices)
    name = models.CharField(max_length=150)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    certificate_pem = models.TextField()
    private_key = EncryptedSecretField(context=CA_KEY_CONTEXT, blank=True)  # empty for an imported root
    key_description = models.CharField(max_length=32)
    serial = models.CharField(max_length=64)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    active = models.BooleanField(default=True)
    imported = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["role"], condition=Q(active=True), name="one_active_ca_per_role"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_role_display()})"

    def load_private_key(self):
        """For signing only, inside an action; the decrypted key is never stored, shown or returned."""
        from certificates.pki import load_private_key
        from ztconsole.core.crypto import decrypt

        return load_private_key(decrypt(self.private_key, context=CA_KEY_CONTEXT))

    def load_certificate(self):
        from certificates.pki import load_certificate

        return load_certificate(self.certificate_pem)


class SanKind(models.TextChoices):
    URI = "uri", "URI"
    DNS = "dns", "DNS name"
    IP = "ip", "IP address"
    EMAIL = "email", "E-mail address"


class CertificateProfile(models.Model):
    """What a certificate of one purpose may be: key types and sizes, EKU, lifetime and SAN kinds."""

    name = models.SlugField(max_length=32, unique=True)
    description = models.CharField(max_length=200, blank=True)
    allow_rsa = models.BooleanField(default=True)
    rsa_min_bits = models.PositiveIntegerField(default=2048)
    ec_curves = models.JSONField(default=list, blank=True, help_text="allowed curves, e.g. secp256r1, secp384r1")
    allow_ed25519 = models.BooleanField(default=True)
    extended_key_usage = models.JSONField(default=list, help_text="clientAuth, serverAuth")
    max_lifetime_days = models.PositiveIntegerField(default=90)
    allowed_san_kinds = models.JSONField(default=list, blank=True)
    include_comp_ids = models.BooleanField(default=False, help_text="list the identity's SenderCompIDs as URI SANs")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def describe_keys(self) -> str:
        parts = []
        if self.allow_rsa:
            parts.append(f"RSA ≥ {self.rsa_min_bits}")
        parts += [f"ECDSA {c}" for c in self.ec_curves]
        if self.allow_ed25519:
            parts.append("Ed25519")
        return ", ".join(parts)


class CertificateStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    REVOKED = "revoked", "Revoked"
    SUPERSEDED = "superseded", "Superseded"
    EXPIRED = "expired", "Expired"


class RevocationReason(models.TextChoices):
    """RFC 5280 CRLReason names (removeFromCRL is not a reason to revoke)."""

    UNSPECIFIED = "unspecified", "unspecified"
    KEY_COMPROMISE = "keyCompromise", "keyCompromise"
    CA_COMPROMISE = "cACompromise", "cACompromise"
    AFFILIATION_CHANGED = "affiliationChanged", "affiliationChanged"
    SUPERSEDED = "superseded", "superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation", "cessationOfOperation"
    CERTIFICATE_HOLD = "certificateHold", "certificateHold"
    PRIVILEGE_WITHDRAWN = "privilegeWithdrawn", "privilegeWithdrawn"
    AA_COMPROMISE = "aACompromise", "aACompromise"


class CertificateQuerySet(models.QuerySet):
    def for_list(self) -> CertificateQuerySet:
        return self.select_related("identity", "identity__user", "profile")

    def restrict(self, user) -> CertificateQuerySet:
        """Issuers, revokers and auditors see every certificate; anyone else those of identities they are or
        sponsor."""
        from ztconsole.core.roles import ISSUE_CERTIFICATES, REVOKE_CERTIFICATES, VIEW_AUDIT

        if any(user.has_perm(p) for p in (ISSUE_CERTIFICATES, REVOKE_CERTIFICATES, VIEW_AUDIT)):
            return self
        return self.filter(Q(identity__user=user) | Q(identity__sponsor__user=user))

    def expiring_within(self, days: int) -> CertificateQuerySet:
        now = timezone.now()
        return self.filter(
            status=CertificateStatus.ACTIVE, not_after__gt=now, not_after__lte=now + timedelta(days=days)
        )


class Certificate(models.Model):
    """An end-entity certificate we issued, bound to one identity; serial and pins are unique."""

    serial = models.CharField(max_length=40, unique=True)
    identity = models.ForeignKey("accounts.Identity", on_delete=models.PROTECT, related_name="certificates")
    profile = models.ForeignKey(CertificateProfile, on_delete=models.PROTECT, related_name="certificates")
    issuer = models.ForeignKey(CertificateAuthority, on_delete=models.PROTECT, related_name="issued")
    pem = models.TextField()
    subject = models.CharField(max_length=400)
    key_description = models.CharField(max_length=32)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    status = models.CharField(max_length=12, choices=CertificateStatus.choices, default=CertificateStatus.ACTIVE)
    revocation_reason = models.CharField(max_length=24, choices=RevocationReason.choices, blank=True)
    revocation_comment = models.CharField(max_length=200, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sha256 = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the DER certificate (pin)")
    spki_sha256 = models.CharField(max_length=64, db_index=True, help_text="SHA-256 of the SubjectPublicKeyInfo (pin)")
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CertificateQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The list's keyset order (newest first): a page is one index range at any depth.
            models.Index(fields=["-created_at", "-id"], name="certificate_list_order"),
            models.Index(fields=["status", "not_after"]),
            models.Index(fields=["identity", "status"]),
            models.Index(fields=["issuer", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.profile.name} certificate {self.serial[:16]} for {self.identity}"

    @property
    def lifetime_days(self) -> float:
        return (self.not_after - self.not_before).total_seconds() / 86400

    @property
    def days_left(self) -> int:
        return (self.not_after - timezone.now()).days


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class CertificateRequest(models.Model):
    """A CSR a sponsor submitted for one of their non-person identities, waiting for an issuer's approval."""

    identity = models.ForeignKey("accounts.Identity", on_delete=models.CASCADE, related_name="certificate_requests")
    profile = models.ForeignKey(CertificateProfile, on_delete=models.PROTECT, related_name="+")
    csr_pem = models.TextField()
    lifetime_days = models.PositiveIntegerField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=200, blank=True)
    certificate = models.ForeignKey(Certificate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.profile.name} request #{self.pk} for {self.identity}"


class CrlState(models.Model):
    """The last CRL an issuing CA signed: its number, times and DER bytes (what /pki/crl.* serves)."""

    authority = models.OneToOneField(CertificateAuthority, on_delete=models.CASCADE, related_name="crl")
    number = models.PositiveBigIntegerField(default=0)
    last_update = models.DateTimeField(null=True, blank=True)
    next_update = models.DateTimeField(null=True, blank=True)
    der = models.BinaryField(default=b"")
    entries = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"CRL #{self.number} of {self.authority}"


class ExpiryNotice(models.Model):
    """Raised once per certificate and threshold (30, 7, 1 days) by the expiry watch; shown on the dashboard."""

    certificate = models.ForeignKey(Certificate, on_delete=models.CASCADE, related_name="expiry_notices")
    threshold_days = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["certificate", "threshold_days"], name="one_notice_per_threshold"),
        ]

    def __str__(self) -> str:
        return f"{self.certificate} expires within {self.threshold_days} days"


class TlsVersion(models.TextChoices):
    TLS12 = "TLSv1.2", "TLS 1.2"
    TLS13 = "TLSv1.3", "TLS 1.3"


class TlsProfile(models.Model):
    """The one TLS profile the enforcement points apply (row 1); validated by ``certificates.tls``."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    min_version = models.CharField(max_length=8, choices=TlsVersion.choices, default=TlsVersion.TLS12)
    tls12_ciphers = models.JSONField(default=list)
    tls13_suites = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"TLS profile (min {self.min_version})"

    def export(self) -> dict:
        """What enforcement points apply: also no compression, no renegotiation, mutual TLS required."""
        return {
            "min_version": self.min_version,
            "tls12_ciphers": list(self.tls12_ciphers),
            "tls13_suites": list(self.tls13_suites),
            "openssl_cipher_string": ":".join(self.tls12_ciphers),
            "compression": False,
            "renegotiation": False,
            "client_certificate": "required",
        }


class ConsoleCredential(models.Model):
    """The console's own certificate (profile ``console``) and its encrypted key: the client certificate it
    presents to every enforcement point's control API. One is active; the expiry watch renews it."""

    certificate_pem = models.TextField()
    private_key = EncryptedSecretField(context=CONSOLE_KEY_CONTEXT)
    serial = models.CharField(max_length=40, unique=True)
    sha256 = models.CharField(max_length=64, unique=True)
    uri = models.CharField(max_length=200)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="one_active_console_credential")
        ]

    def __str__(self) -> str:
        return f"console client certificate {self.serial[:16]}"

    def private_key_pem(self) -> bytes:
        """For the delivery client only (written to a private temporary file); never shown or logged."""
        from ztconsole.core.crypto import decrypt

        return decrypt(self.private_key, context=CONSOLE_KEY_CONTEXT)
