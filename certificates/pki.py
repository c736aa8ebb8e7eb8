"""Pure X.509 helpers on top of ``cryptography``: parse and describe keys, CSRs and certificates, build them.

Nothing here touches the database; ``certificates.actions`` decides, these functions compute.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IDENTITY_URI_PREFIX = "urn:ztconsole:identity:"
COMP_ID_URI_PREFIX = "urn:ztconsole:fix:sendercompid:"
ORGANIZATION = "ZT Console"
# How far before its issuance a certificate the console issues is already valid: an enforcement point or a client
# whose clock runs a little behind the console's would otherwise refuse a certificate it has just been given
# (notBefore in its future). The certificate's lifetime still counts from issuance.
CLOCK_SKEW = timedelta(minutes=5)

EKU_NAMES = {
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}
EKU_OIDS = {name: oid for oid, name in EKU_NAMES.items()}


class PkiError(ValueError):
    """Input that is not a well-formed, correctly signed object; the message names the problem."""


@dataclass(frozen=True)
class KeyInfo:
    """What a public key is: ``kind`` rsa / ec / ed25519 (or another name), its size and curve."""

    kind: str
    bits: int
    curve: str = ""

    def __str__(self) -> str:
        if self.kind == "rsa":
            return f"RSA {self.bits}"
        if self.kind == "ec":
            return f"ECDSA {self.curve}"
        return self.kind.capitalize() if self.kind == "ed25519" else self.kind


@dataclass
class CsrInfo:
    csr: x509.CertificateSigningRequest
    key: KeyInfo
    subject: str
    dns_names: list[str] = field(default_factory=list)
    ip_addresses: list[str] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    other_sans: list[str] = field(default_factory=list)
    requests_ca: bool = False
    ekus: list[str] = field(default_factory=list)


def key_info(public_key) -> KeyInfo:
    if isinstance(public_key, rsa.RSAPublicKey):
        return KeyInfo("rsa", public_key.key_size)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return KeyInfo("ec", public_key.curve.key_size, public_key.curve.name)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return KeyInfo("ed25519", 256)
    if isinstance(public_key, ed448.Ed448PublicKey):
        return KeyInfo("ed448", 456)
    return KeyInfo(type(public_key).__name__, 0)


def _text(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else data


def parse_csr(data: str | bytes) -> CsrInfo:
    """Load a PEM CSR, verify its self-signature, and list what it asks for."""
    raw = _text(data).strip()
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in raw and b"-----BEGIN NEW CERTIFICATE REQUEST-----" not in raw:
        raise PkiError("not a PEM certificate signing request (expected -----BEGIN CERTIFICATE REQUEST-----)")
    if raw.count(b"-----BEGIN") != 1 or raw.count(b"-----END") != 1:
        # The loader would silently use the first of several blocks: exactly one CSR, nothing else.
        raise PkiError("give exactly one CSR: this text holds several PEM blocks")
    try:
        csr = x509.load_pem_x509_csr(raw)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"the CSR could not be decoded: {exc}") from None
    try:
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm, InvalidSignature):
        valid = False
    if not valid:
        raise PkiError("the CSR's signature does not verify with its own public key (signed with a different key?)")
    try:
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"the CSR's public key is not supported: {exc}") from None
    info = CsrInfo(csr=csr, key=key_info(public_key), subject=csr.subject.rfc4514_string())
    try:
        extensions = list(csr.extensions)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise PkiError(f"the CSR's extensions could not be decoded: {exc}") from None
    for ext in extensions:
        value = ext.value
        if isinstance(value, x509.BasicConstraints):
            info.requests_ca = bool(value.ca)
        elif isinstance(value, x509.ExtendedKeyUsage):
            info.ekus = [EKU_NAMES.get(oid, oid.dotted_string) for oid in value]
        elif isinstance(value, x509.SubjectAlternativeName):
            _collect_sans(value, info)
    return info


def _collect_sans(value: x509.SubjectAlternativeName, info: CsrInfo) -> None:
    for name in value:
        if isinstance(name, x509.DNSName):
            info.dns_names.append(name.value)
        elif isinstance(name, x509.IPAddress):
            info.ip_addresses.append(str(name.value))
        elif isinstance(name, x509.UniformResourceIdentifier):
            info.uris.append(name.value)
        elif isinstance(name, x509.RFC822Name):
            info.emails.append(name.value)
        else:
            info.other_sans.append(type(name).__name__)


def load_certificate(pem: str | bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(_text(pem))
    except ValueError as exc:
        raise PkiError(f"not a PEM certificate: {exc}") from None


def load_private_key(pem: str | bytes):
    try:
        return serialization.load_pem_private_key(_text(pem), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"not an unencrypted PEM private key: {exc}") from None


def private_key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def certificate_sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def spki_sha256(public_key) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def generate_ca_key(rsa_key: bool = False):
    if rsa_key:
        return rsa.generate_private_key(public_exponent=65537, key_size=4096)
    return ec.generate_private_key(ec.SECP384R1())


def signing_hash(ca_key):
    """The digest a CA key signs with: SHA-384 for P-384 and RSA 4096, none for EdDSA."""
    if isinstance(ca_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA384()


def build_ca_certificate(
    *,
    key,
    common_name: str,
    not_before: datetime,
    not_after: datetime,
    issuer_cert=None,
    issuer_key=None,
    path_len=None,
) -> x509.Certificate:
    """A self-signed root (no issuer) or an intermediate signed by ``issuer_key``."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    issuer_name = issuer_cert.subject if issuer_cert is not None else subject
    signer = issuer_key if issuer_key is not None else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), critical=False
        )
    return builder.sign(signer, signing_hash(signer))


def leaf_key_usage(info: KeyInfo) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=info.kind == "rsa",
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def build_leaf_certificate(
    *,
    public_key,
    subject: x509.Name,
    sans: list[x509.GeneralName],
    ekus: list[str],
    not_before: datetime,
    not_after: datetime,
    serial: int,
    issuer_cert: x509.Certificate,
    issuer_key,
    crl_url: str = "",
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(leaf_key_usage(key_info(public_key)), critical=True)
        .add_extension(x509.ExtendedKeyUsage([EKU_OIDS[name] for name in ekus]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), critical=False)
    )
    if crl_url:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return builder.sign(issuer_key, signing_hash(issuer_key))


@dataclass
class DecodedCertificate:
    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    key: KeyInfo
    signature_hash: str
    dns_names: list[str]
    ip_addresses: list[str]
    uris: list[str]
    emails: list[str]
    ekus: list[str]
    is_ca: bool
    sha256: str
    spki_sha256: str


def decode(cert: x509.Certificate) -> DecodedCertificate:
    info = CsrInfo(csr=None, key=key_info(cert.public_key()), subject="")  # type: ignore[arg-type]
    ekus: list[str] = []
    is_ca = False
    for ext in cert.extensions:
        if isinstance(ext.value, x509.SubjectAlternativeName):
            _collect_sans(ext.value, info)
        elif isinstance(ext.value, x509.ExtendedKeyUsage):
            ekus = [EKU_NAMES.get(oid, oid.dotted_string) for oid in ext.value]
        elif isinstance(ext.value, x509.BasicConstraints):
            is_ca = ext.value.ca
    algorithm = cert.signature_hash_algorithm
    return DecodedCertificate(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key=info.key,
        signature_hash=algorithm.name if algorithm is not None else "none (EdDSA)",
        dns_names=info.dns_names,
        ip_addresses=info.ip_addresses,
        uris=info.uris,
        emails=info.emails,
        ekus=ekus,
        is_ca=is_ca,
        sha256=certificate_sha256(cert),
        spki_sha256=spki_sha256(cert.public_key()),
    )
