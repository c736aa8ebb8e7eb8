"""Test settings: production settings with fast hashing, plain static storage and isolated key prefixes."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production-" + "k" * 40)
os.environ.setdefault("DJANGO_DEBUG", "0")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("ZT_SSL_REDIRECT", "0")
os.environ.setdefault("ZT_SECURE_COOKIES", "0")
os.environ.setdefault("ZT_HSTS_SECONDS", "0")
os.environ.setdefault("ZT_SECRETS_KEYS", "t1:dGVzdC1vbmx5LXNlY3JldHMta2V5LTMyLWJ5dGVzISE=")
os.environ.setdefault("ZT_AUDIT_SIGNING_KEY", "dGVzdC1vbmx5LWF1ZGl0LWNoZWNrcG9pbnQta2V5LTM=")
os.environ.setdefault("ZT_EXPORT_SIGNING_KEY", "dGVzdC1vbmx5LWF1ZGl0LWV4cG9ydC1zaWduaW5nLWs=")
os.environ.setdefault("ZT_REDIS_PREFIX", f"zt-test-{os.getpid()}")
# The test runner's own process keeps plain connections (it creates and flushes the test database); the
# scale-out test starts its web processes with ZT_DB_POOL=1.
os.environ.setdefault("ZT_DB_POOL", "0")

from ztconsole.testing.services import ensure_redis_url

ensure_redis_url()

from ztconsole.settings import *  # noqa: E402,F403
from ztconsole.settings import DATABASES, VAR_DIR  # noqa: E402

# Argon2 is the production hasher (asserted by a test); tests hash thousands of passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Each test run appends its checkpoints to its own file; tests that read them point this at a tmp_path.
ZT_AUDIT_CHECKPOINT_PATH = str(VAR_DIR / f"test-audit-checkpoints-{os.getpid()}.jsonl")

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so the in-process ASGI server's threads and the Celery worker share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
