"""The RFC facts the samples use, and small PSKC documents built for the tests.

Plaintext documents are written by hand, which keeps those cases independent of the library the
importer uses; encrypted ones come from python-pskc's writer.
"""

from __future__ import annotations

import base64
import io
from xml.sax.saxutils import escape

import pskc

# RFC 6030 Figures 5 and 6: the pre-shared key, given in hex.
RFC6030_PRE_SHARED_KEY = bytes.fromhex("12345678901234567890123456789012")
# RFC 6030 Figure 7: the PBKDF2 password.
RFC6030_PASSWORD = "qwerty"
# RFC 4226 Appendix D (and RFC 6030's examples): the HOTP secret.
RFC4226_SECRET = b"12345678901234567890"

HOTP = "urn:ietf:params:xml:ns:keyprov:pskc:hotp"
TOTP = "urn:ietf:params:xml:ns:keyprov:pskc:totp"


def key_package(
    *,
    serial: str | None = "TOKEN-1",
    algorithm: str = HOTP,
    secret: bytes | None = b"12345678901234567890",
    digits: int | None = 6,
    encoding: str = "DECIMAL",
    suite: str | None = None,
    counter: int | None = None,
    time_interval: int | None = None,
    manufacturer: str | None = None,
    model: str | None = None,
) -> str:
    """One <KeyPackage> element with plaintext values; None leaves an element out."""
    device = ""
    if manufacturer is not None:
        device += f"<Manufacturer>{escape(manufacturer)}</Manufacturer>"
    if serial is not None:
        device += f"<SerialNo>{escape(serial)}</SerialNo>"
    if model is not None:
        device += f"<Model>{escape(model)}</Model>"
    parameters = ""
    if suite is not None:
        parameters += f"<Suite>{escape(suite)}</Suite>"
    if digits is not None:
        parameters += f'<ResponseFormat Length="{digits}" Encoding="{encoding}"/>'
    data = ""
    if secret is not None:
        data += f"<Secret><PlainValue>{base64.b64encode(secret).decode()}</PlainValue></Secret>"
    if counter is not None:
        data += f"<Counter><PlainValue>{counter}</PlainValue></Counter>"
    if time_interval is not None:
        data += f"<TimeInterval><PlainValue>{time_interval}</PlainValue></TimeInterval>"
    return (
        f"<KeyPackage><DeviceInfo>{device}</DeviceInfo>"
        f'<Key Id="k" Algorithm="{escape(algorithm)}">'
        f"<AlgorithmParameters>{parameters}</AlgorithmParameters>"
        f"<Data>{data}</Data></Key></KeyPackage>"
    )


def container(*packages: str) -> bytes:
    """A plaintext <KeyContainer> holding the given key packages."""
    body = "".join(packages)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc">{body}</KeyContainer>'
    ).encode()


def encrypted_with_key(psk: bytes, algorithm: str, *, serials: tuple[str, ...] = ("ENC-1",)) -> bytes:
    """A PSKC file whose secrets are encrypted with the pre-shared key ``psk`` (CBC modes add a MAC)."""
    document = pskc.PSKC()
    for number, serial in enumerate(serials):
        document.add_key(
            serial=serial,
            algorithm=HOTP,
            response_length=6,
            response_encoding="DECIMAL",
            secret=bytes([number]) * 20,
            counter=number,
        )
    document.encryption.setup_preshared_key(key=psk, algorithm=algorithm)
    output = io.BytesIO()
    document.write(output)
    return output.getvalue()
