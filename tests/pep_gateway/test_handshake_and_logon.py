"""What is refused before a session exists: TLS outside the profile, revoked certificates, foreign CompIDs,
malformed input, a Logon that never comes."""

import shutil
import socket
import ssl
import subprocess

import pytest

from tests.pep_gateway.harness import Client, payload, signed, spooled_events, wait_for


def _s_client(pep, pki, *args):
    return subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{pep.port}",
            "-CAfile",
            str(pki.chain),
            "-cert",
            str(pki.client.cert),
            "-key",
            str(pki.client.key),
            "-brief",
            *args,
        ],
        input=b"",
        capture_output=True,
        timeout=20,
    )


@pytest.fixture
def openssl():
    if shutil.which("openssl") is None:
        pytest.fail("openssl is required for the TLS profile checks")


def test_tls12_aead_is_accepted_and_tls11_or_a_cbc_cipher_is_refused(openssl, pki, pep):
    accepted = _s_client(pep, pki, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert b"ECDHE-ECDSA-AES128-GCM-SHA256" in accepted.stdout + accepted.stderr
    # The client is allowed everything (security level 0) so that only the PEP can be the one refusing.
    old = _s_client(pep, pki, "-tls1_1", "-cipher", "ALL:@SECLEVEL=0")
    assert old.returncode != 0
    assert b"Protocol version: TLSv1.1" not in old.stdout + old.stderr
    # the server ends the handshake: an alert, or the connection closed without a ServerHello
    assert any(m in old.stderr for m in (b"alert protocol version", b"unsupported protocol", b"unexpected eof"))
    cbc = _s_client(pep, pki, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:@SECLEVEL=0")
    assert cbc.returncode != 0
    assert b"Ciphersuite: ECDHE" not in cbc.stdout + cbc.stderr
    assert any(m in cbc.stderr for m in (b"handshake failure", b"no shared cipher", b"unexpected eof"))
    refused = wait_for(
        lambda: len(r := [e for e in spooled_events(pki.root / "state") if e["type"] == "tls_refused"]) >= 2 and r
    )
    reasons = " ".join(e["reason"] for e in refused)
    assert "UNSUPPORTED_PROTOCOL" in reasons or "WRONG_VERSION" in reasons.upper() or "VERSION" in reasons
    assert "NO_SHARED_CIPHER" in reasons


def test_a_cipher_the_profile_leaves_out_is_refused(openssl, pki, pep):
    # AEAD, but not in the pushed profile (only ECDSA AES-GCM suites are listed there)
    refused = _s_client(pep, pki, "-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305")
    assert refused.returncode != 0 and b"Ciphersuite" not in refused.stdout + refused.stderr


def test_a_certificate_not_from_the_console_ca_is_refused_at_the_handshake_with_the_reason(pki, pep, venue, tmp_path):
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "impostor")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"urn:ztconsole:fix:sendercompid:{pki.client.comp_ids[0]}")]
            ),
            False,
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "impostor.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "impostor.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(cafile=str(pki.chain))
    context.load_cert_chain(str(tmp_path / "impostor.pem"), str(tmp_path / "impostor.key"))
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        client = Client(pki, pep.port, context=context)
        client.logon()
        assert client.receive() is None
        raise ConnectionResetError
    assert venue.messages.empty()
    refused = wait_for(lambda: [e for e in spooled_events(pki.root / "state") if e["type"] == "tls_refused"])
    assert refused[0]["reason"].startswith("certificate verify failed")
    assert refused[0]["source_ip"] == "127.0.0.1"


def test_a_client_without_a_certificate_is_refused_at_the_handshake(pki, pep, venue):
    context = ssl.create_default_context(cafile=str(pki.chain))
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        client = Client(pki, pep.port, context=context)
        client.logon()
        assert client.receive() is None
        raise ConnectionResetError
    assert venue.messages.empty()


def test_a_revoked_certificate_is_refused_at_the_handshake(pki, venue, start_pep):
    pep = start_pep()
    revoked = payload(pki, 1, revocations={"sequence": 4, "certificates": [pki.client.sha256]})
    assert pep.push(signed(pki, revoked))[0] == 200
    client = Client(pki, pep.port)
    with pytest.raises((ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError)):
        client.logon()
        if client.receive() is None:
            raise ConnectionResetError("closed")
    assert venue.messages.empty()
    events = wait_for(lambda: [e for e in spooled_events(pki.root / "state") if e["type"] == "tls_refused"])
    assert events[0]["reason"] == "certificate revoked"
    assert pep.status()["revocation_sequence"] == 4
    # the other client is still served
    other = Client(pki, pep.port, pki.other_client)
    other.logon()
    assert other.receive().get(35) == b"5"  # refused at Logon: no access rule for it, but the handshake passed


def test_a_sender_comp_id_that_is_not_the_certificates_is_refused(pki, venue, pep):
    client = Client(pki, pep.port)
    client.logon(comp="BETA1")  # another identity's CompID
    logout = client.receive()
    assert logout.get(35) == b"5"
    assert b"SenderCompID BETA1 is not one of the certificate's (ALPHA1, ALPHA2)" in logout.get(58)
    assert client.closed()
    assert venue.messages.empty()
    # the second CompID the certificate carries is accepted
    second = Client(pki, pep.port)
    second.logon(comp="ALPHA2")
    assert second.receive().get(35) == b"A"


def test_a_logon_the_policy_denies_gets_the_reason(pki, venue, pep):
    client = Client(pki, pep.port, pki.other_client)
    client.logon()
    logout = client.receive()
    assert logout.get(35) == b"5" and b"default deny" in logout.get(58)
    assert venue.messages.empty()


def test_step_up_is_refused_with_step_up_required(pki, venue, start_pep):
    pep = start_pep()
    body = payload(pki, 1)
    body["certificates"] = [dict(c, authentication="none") for c in body["certificates"]]  # +30: step-up band
    assert pep.push(signed(pki, body))[0] == 200
    client = Client(pki, pep.port)
    client.logon()
    assert client.receive().get(58).startswith(b"step-up required")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "garbage"),
        (b"8=FIX.4.2\x019=5\x0135=A\x0110=000\x01", "wrong BeginString"),
        (b"8=FIX.4.4\x019=99999999\x0135=A\x01", "exceeds the limit"),
        (b"8=FIX.4.4\x019=5\x0135=A\x0110=000\x01", "bad CheckSum"),
    ],
)
def test_malformed_input_before_logon_ends_the_connection_with_a_reason(pki, venue, pep, data, reason):
    bystander = Client(pki, pep.port)
    bystander.logon()
    assert bystander.receive().get(35) == b"A"
    client = Client(pki, pep.port)
    client.sock.sendall(data)
    assert client.closed()
    errors = wait_for(lambda: [e for e in spooled_events(pki.root / "state") if e["type"] == "protocol_error"])
    assert reason in errors[-1]["reason"]
    # nothing else is disturbed: the live session still relays
    bystander.send("R", (131, "Q-9"))
    assert venue.expect(b"R").get(131) == b"Q-9"


def test_a_logon_that_never_comes_times_out(pki, venue, start_pep):
    pep = start_pep(logon_timeout=0.5)
    client = Client(pki, pep.port)
    assert client.closed(timeout=5)
    errors = wait_for(lambda: [e for e in spooled_events(pki.root / "state") if e["type"] == "protocol_error"])
    assert "no Logon within 0.5 s" in errors[0]["reason"]


def test_no_bundle_means_every_logon_is_refused(pki, venue, start_pep):
    pep = start_pep()
    assert pep.status()["status"] == "no_bundle"
    client = Client(pki, pep.port)
    client.logon()
    assert b"fails closed" in client.receive().get(58)


def test_plain_tcp_gets_no_fix_service(pki, pep):
    with socket.create_connection(("127.0.0.1", pep.port), timeout=5) as sock:
        sock.sendall(b"8=FIX.4.4\x019=5\x0135=A\x0110=000\x01")
        sock.settimeout(5)
        try:
            data = sock.recv(100)
        except ConnectionResetError:
            data = b""
        assert b"35=" not in data
