"""Write the encrypted RFC 6030 samples in this directory with python-pskc's writer.

The RFC's own ciphertexts are not reproduced here; these files carry the same facts (Figure 6:
pre-shared key 12345678901234567890123456789012 hex, AES-128-CBC with an HMAC-SHA1 MAC; Figure 7:
PBKDF2 from the password "qwerty", 1,000 iterations, 16-byte key) around the same HOTP secret
"12345678901234567890", so they are real, decryptable PSKC files. IVs and the MAC key are random:
rerunning the script changes the bytes, not what the files mean.

Run: .venv/bin/python tests/oath/data/make_encrypted_samples.py
"""

from __future__ import annotations

import base64
from pathlib import Path

import pskc

HERE = Path(__file__).resolve().parent
HOTP = "urn:ietf:params:xml:ns:keyprov:pskc:hotp"
SECRET = b"12345678901234567890"
PRE_SHARED_KEY = bytes.fromhex("12345678901234567890123456789012")
PASSWORD = "qwerty"
SALT = base64.b64decode("Ej7/PEpyEpw=")


def figure6_pre_shared_key() -> pskc.PSKC:
    container = pskc.PSKC()
    container.add_key(
        id="12345678",
        manufacturer="Manufacturer",
        serial="987654321",
        crypto_module="CM_ID_001",
        algorithm=HOTP,
        issuer="Issuer",
        response_encoding="DECIMAL",
        response_length=8,
        secret=SECRET,
        counter=0,
    )
    container.encryption.setup_preshared_key(
        key=PRE_SHARED_KEY,
        key_name="Pre-shared-key",
        algorithm="aes128-cbc",
    )
    return container


def figure7_pbkdf2() -> pskc.PSKC:
    container = pskc.PSKC()
    container.add_key(
        id="123456",
        manufacturer="TokenVendorAcme",
        serial="987654321",
        crypto_module="CM_ID_001",
        algorithm=HOTP,
        issuer="Example-Issuer",
        response_encoding="DECIMAL",
        response_length=8,
        secret=SECRET,
        counter=0,
    )
    container.encryption.setup_pbkdf2(
        PASSWORD,
        key_name="My Password 1",
        algorithm="aes128-cbc",
        key_length=16,
        salt=SALT,
        iterations=1000,
    )
    return container


def main() -> None:
    figure6_pre_shared_key().write(str(HERE / "rfc6030_figure6_psk_aes128cbc.pskcxml"))
    figure7_pbkdf2().write(str(HERE / "rfc6030_figure7_pbkdf2.pskcxml"))


if __name__ == "__main__":
    main()
