"""Making enforcement points the way an operator does: a key and CSR on the PEP's host, then registration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.certificates.helpers import make_csr


@dataclass
class PepCredentials:
    name: str
    key_pem: bytes
    csr_pem: str
    point: object = None
    certificate: object = None
    token: str = ""

    def write(self, directory: Path) -> tuple[Path, Path]:
        """The certificate and key files a PEP process reads (key mode 0600)."""
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / f"{self.name}.crt", directory / f"{self.name}.key"
        cert.write_text(self.certificate.pem)
        key.write_bytes(self.key_pem)
        key.chmod(0o600)
        return cert, key


def pep_key_and_csr(name: str, host: str = "127.0.0.1") -> PepCredentials:
    key = ec.generate_private_key(ec.SECP256R1())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return PepCredentials(name, key_pem, make_csr(key, cn=name, ips=(host,)))


def register(name: str, *, environment: str = "prod", port: int = 9, actor=None, segments=()) -> PepCredentials:
    from policies.distribution.actions import register_enforcement_point

    creds = pep_key_and_csr(name)
    creds.point, creds.certificate, creds.token = register_enforcement_point(
        actor,
        name=name,
        environment=environment,
        control_url=f"https://127.0.0.1:{port}",
        csr_pem=creds.csr_pem,
        segments=list(segments),
    )
    return creds


def matrix_point(personas) -> int:
    """A primary key for the authorization matrix's ``enforcement_point`` reference."""
    from certificates.actions import init_ca
    from certificates.models import CertificateAuthority

    if not CertificateAuthority.objects.filter(active=True).exists():
        init_ca(None)
    return register("pep-matrix", actor=personas["admin"].user).point.pk
