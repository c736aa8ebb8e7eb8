"""Configuration: loud failures on bad values, *_FILE secrets, and a production mode that passes --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from ztconsole import env

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "ztconsole.settings",
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "q8Zr-5vLk2!mW7x@pN4c#tJ9hB3e$Y6uA1sD0fG*iK8oP2lM5nR7",
    "DJANGO_ALLOWED_HOSTS": "console.example.com",
    "DATABASE_URL": "sqlite:////tmp/zt-deploy-check.sqlite3",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ZT_SECRETS_KEYS": "p1:cHJvZHVjdGlvbi1jaGVjay1rZXktMzItYnl0ZXMhISE=",
    "ZT_WEBAUTHN_ORIGINS": "https://console.example.com",
    "ZT_AUDIT_SIGNING_KEY": "cHJvZC1jaGVjay1hdWRpdC1jaGVja3BvaW50LWstMzI=",
    "ZT_EXPORT_SIGNING_KEY": "cHJvZC1jaGVjay1hdWRpdC1leHBvcnQta2V5LTMyYi4=",
}


def _manage(*args: str, extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ZT_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **extra_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_check_deploy_without_warnings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", extra_env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    without_key = {k: v for k, v in PRODUCTION_ENV.items() if k != "DJANGO_SECRET_KEY"}
    result = _manage("check", extra_env=without_key)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required" in result.stderr


def test_production_uses_argon2_and_strict_security_headers():
    code = (
        "from django.conf import settings as s;"
        "print(s.PASSWORD_HASHERS[0]);"
        "print(s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_SSL_REDIRECT, s.X_FRAME_OPTIONS)"
    )
    result = _manage("shell", "-c", code, extra_env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-2] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert lines[-1] == "31536000 True True True DENY"


def test_bad_values_fail_loudly(monkeypatch):
    monkeypatch.setenv("ZT_X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="ZT_X_BOOL='maybe' is not a boolean"):
        env.env_bool("ZT_X_BOOL", False)
    monkeypatch.setenv("ZT_X_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env.env_int("ZT_X_INT", 1)
    monkeypatch.setenv("ZT_X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="below the minimum 1"):
        env.env_int("ZT_X_INT", 1, minimum=1)


def test_secret_from_file_wins(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("from-the-file\n")
    monkeypatch.setenv("ZT_X_SECRET", "from-the-env")
    monkeypatch.setenv("ZT_X_SECRET_FILE", str(secret))
    assert env.env_str("ZT_X_SECRET") == "from-the-file"
    monkeypatch.setenv("ZT_X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env.env_str("ZT_X_SECRET")


def test_bad_database_url_is_a_clear_error():
    result = _manage("check", extra_env={**PRODUCTION_ENV, "DATABASE_URL": "mysql://x@y/z"})
    assert result.returncode != 0
    assert "DATABASE_URL must be a postgres:// or sqlite:// URL" in result.stderr


def test_production_needs_a_readable_audit_checkpoint_key(tmp_path):
    without = {k: v for k, v in PRODUCTION_ENV.items() if k != "ZT_AUDIT_SIGNING_KEY"}
    result = _manage("check", extra_env=without)
    assert result.returncode != 0
    assert "ZT_AUDIT_SIGNING_KEY is required" in result.stderr
    result = _manage("check", extra_env={**PRODUCTION_ENV, "ZT_AUDIT_SIGNING_KEY": "bm90LWEta2V5"})
    assert result.returncode != 0
    assert "ZT_AUDIT_SIGNING_KEY is not an Ed25519 private key" in result.stderr


def test_production_needs_a_readable_export_signing_key():
    without = {k: v for k, v in PRODUCTION_ENV.items() if k != "ZT_EXPORT_SIGNING_KEY"}
    result = _manage("check", extra_env=without)
    assert result.returncode != 0
    assert "ZT_EXPORT_SIGNING_KEY is required" in result.stderr
    result = _manage("check", extra_env={**PRODUCTION_ENV, "ZT_EXPORT_SIGNING_KEY": "bm90LWEta2V5"})
    assert result.returncode != 0
    assert "ZT_EXPORT_SIGNING_KEY is not an Ed25519 private key" in result.stderr


def test_audit_checkpoint_key_from_a_pem_file(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "audit.key").write_bytes(pem)
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "ZT_AUDIT_SIGNING_KEY"}
    env["ZT_AUDIT_SIGNING_KEY_FILE"] = str(tmp_path / "audit.key")
    result = _manage("audit_checkpoint", "--public-key", extra_env=env)
    assert result.returncode == 0, result.stderr
    expected = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert result.stdout == expected.decode()
