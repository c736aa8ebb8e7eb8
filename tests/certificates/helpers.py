"""Client-side key and CSR making, as a FIX client would do it locally (the console never sees these keys)."""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from accounts.actions import create_non_person_identity


def ec_key(curve=None):
    return ec.generate_private_key(curve or ec.SECP256R1())


def rsa_key(bits: int = 2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ed_key():
    return ed25519.Ed25519PrivateKey.generate()


def make_csr(
    key=None,
    *,
    cn: str = "client",
    uris: tuple[str, ...] = (),
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    ekus: tuple = (),
    ca: bool = False,
    signer=None,
) -> str:
    """A PEM CSR; ``signer`` lets a test sign with a different key than the one it carries."""
    key = key or ec_key()
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    )
    names = [x509.UniformResourceIdentifier(u) for u in uris] + [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = builder.sign(key, algorithm)
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    if signer is not None:
        other = builder.sign(signer, algorithm)
        # Keep this CSR's public key but put the other key's signature on it: a CSR that does not verify.
        pem = _swap_signature(csr, other)
    return pem


def _swap_signature(csr: x509.CertificateSigningRequest, other: x509.CertificateSigningRequest) -> str:
    import base64

    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    sig, other_sig = csr.signature, other.signature
    if len(sig) == len(other_sig):
        index = bytes(der).rindex(sig)
        der[index : index + len(sig)] = other_sig
    else:  # same length for RSA of one size; for ECDSA flip a bit of the signature instead
        index = bytes(der).rindex(sig)
        der[index + len(sig) - 1] ^= 0x01
    body = base64.encodebytes(bytes(der)).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"


CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH


def make_algo(sponsor_user, name: str = "algo-alpha", comp_ids=("ALPHA1", "ALPHA2")):
    return create_non_person_identity(
        None,
        name=name,
        kind="algorithm",
        display_name=name.title(),
        sponsor=sponsor_user.identity,
        environment="uat",
        sender_comp_ids=list(comp_ids),
    )


def matrix_certificate(personas, *, request: bool = False):
    """A CA and a fix-client certificate (or a pending request) for an algorithm the trader sponsors."""
    from certificates import actions

    actions.init_ca(None)
    algo = make_algo(personas["trader"].user, name="algo-matrix", comp_ids=("MATRIX1",))
    profile = actions.profile_by_name("fix-client")
    if request:
        return actions.request_certificate(personas["trader"].user, identity=algo, profile=profile, csr_pem=make_csr())
    return actions.issue_from_csr(None, identity=algo, profile=profile, csr_pem=make_csr())
