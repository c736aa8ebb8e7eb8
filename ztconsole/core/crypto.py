"""Secrets at rest: AES-256-GCM with keys from the environment, each ciphertext naming its key id.

``ZT_SECRETS_KEYS`` (or ``ZT_SECRETS_KEYS_FILE``) holds ``id:base64key`` pairs separated by commas; the first
is used to encrypt, all are tried by id to decrypt, so a key can be rotated by putting the new one first and
re-encrypting at leisure (``manage.py rotate_secrets``). Token seeds, CA keys and signing keys use this.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

_PREFIX = "v1"


CONFIGURE_KEYS_HINT = (
    "Configure the key ring with ZT_SECRETS_KEYS (id:base64key pairs, comma-separated) or ZT_SECRETS_KEYS_FILE; "
    "keep every key that encrypted a stored secret. For the demo, run commands with `make manage ARGS=...` "
    "(or scripts/manage), which uses var/demo/secrets_keys."
)


class SecretDecryptionError(Exception):
    """A ciphertext that no configured key opens (wrong key, unknown key id, or tampered data).

    ``key_id`` names the key the ciphertext was sealed with (None when the ciphertext is malformed), so pages
    and commands can say which key is missing and how to configure it instead of failing with a traceback.
    """

    def __init__(self, message: str, *, key_id: str | None = None) -> None:
        super().__init__(message)
        self.key_id = key_id

    @property
    def explanation(self) -> str:
        """One sentence for an operator: what is missing and where to configure it."""
        if self.key_id is None:
            return f"A stored secret cannot be read: {self}. {CONFIGURE_KEYS_HINT}"
        configured = ", ".join(sorted(_configured_ids())) or "none"
        return (
            f"A stored secret was encrypted with key id {self.key_id!r}, which this process cannot use "
            f"({self}; configured key ids: {configured}). {CONFIGURE_KEYS_HINT}"
        )


def _configured_ids() -> list[str]:
    try:
        return list(keyring().keys)
    except ImproperlyConfigured:
        return []


@dataclass(frozen=True)
class Keyring:
    active_id: str
    keys: dict[str, bytes]


@lru_cache(maxsize=4)
def _parse(spec: str) -> Keyring:
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep or not key_id.isalnum() or len(key_id) > 16:
            raise ImproperlyConfigured("ZT_SECRETS_KEYS entries must read id:base64key with an alphanumeric id")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(f"ZT_SECRETS_KEYS key {key_id!r} is not valid base64") from None
        if len(key) != 32:
            raise ImproperlyConfigured(f"ZT_SECRETS_KEYS key {key_id!r} must be 32 bytes (AES-256)")
        keys[key_id] = key
        order.append(key_id)
    if not order:
        raise ImproperlyConfigured("ZT_SECRETS_KEYS is empty: token seeds and keys cannot be encrypted")
    return Keyring(order[0], keys)


def keyring() -> Keyring:
    return _parse(settings.ZT_SECRETS_KEYS)


def new_key_spec(key_id: str = "k1") -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def encrypt(plaintext: bytes, *, context: str) -> str:
    """``context`` (e.g. "oath-seed") is bound as associated data: a ciphertext moved elsewhere won't open."""
    ring = keyring()
    nonce = os.urandom(12)
    sealed = AESGCM(ring.keys[ring.active_id]).encrypt(nonce, plaintext, context.encode())
    return f"{_PREFIX}:{ring.active_id}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str, *, context: str) -> bytes:
    try:
        version, key_id, payload = token.split(":", 2)
        raw = base64.b64decode(payload, validate=True)
    except (ValueError, binascii.Error):
        raise SecretDecryptionError("malformed ciphertext") from None
    key = keyring().keys.get(key_id)
    if version != _PREFIX or key is None:
        raise SecretDecryptionError(f"no key with id {key_id!r} is configured", key_id=key_id)
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], context.encode())
    except Exception:
        raise SecretDecryptionError(
            f"the ciphertext does not open with key {key_id!r} (tampered, or a different key under the same id)",
            key_id=key_id,
        ) from None


def key_id_of(token: str) -> str:
    return token.split(":", 2)[1]


class EncryptedSecretField(models.TextField):
    """Stores an AES-GCM ciphertext; the model decides when to decrypt (never in a form, list or API)."""

    def __init__(self, *args, context: str = "secret", **kwargs):
        self.context = context
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["context"] = self.context
        kwargs.pop("editable", None)
        return name, path, args, kwargs
