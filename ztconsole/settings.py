"""ZT Console settings: everything comes from the environment (see README, "Configuration")."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from ztconsole.auditverify import KeyFormatError, load_private_key
from ztconsole.env import env_bool, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ZT_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)

if DEBUG:
    # A development key is acceptable only with DEBUG on; production must provide its own.
    SECRET_KEY = env_str("DJANGO_SECRET_KEY", "dev-only-insecure-key-" + "x" * 40)
else:
    SECRET_KEY = env_str("DJANGO_SECRET_KEY")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 characters long")

# Old keys still accepted for signatures (sessions, password resets) while a rotation rolls out.
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS", [])

# Encryption of secrets at rest (token seeds, keys): "id:base64key,..." — see ztconsole/core/crypto.py.
if DEBUG:
    ZT_SECRETS_KEYS = env_str("ZT_SECRETS_KEYS", "dev:" + "ZGV2LW9ubHktaW5zZWN1cmUtc2VjcmV0cy1rZXktMzI=")
else:
    ZT_SECRETS_KEYS = env_str("ZT_SECRETS_KEYS")

# The audit chain's checkpoint key (Ed25519, never stored in the database): PEM or base64 of the 32-byte
# private key; best given as ZT_AUDIT_SIGNING_KEY_FILE (docs/audit.md).
if DEBUG:
    ZT_AUDIT_SIGNING_KEY = env_str("ZT_AUDIT_SIGNING_KEY", "ZGV2LW9ubHktYXVkaXQtY2hlY2twb2ludC1rZXktMzI=")
else:
    ZT_AUDIT_SIGNING_KEY = env_str("ZT_AUDIT_SIGNING_KEY")
try:
    _audit_public_key = load_private_key(ZT_AUDIT_SIGNING_KEY).public_key()
except KeyFormatError as exc:
    raise ImproperlyConfigured(f"ZT_AUDIT_SIGNING_KEY is not an Ed25519 private key: {exc}") from None
# Previous checkpoint public keys (PEM file) still trusted by verify_audit after a key rotation.
ZT_AUDIT_PUBLIC_KEYS_FILE = env_str("ZT_AUDIT_PUBLIC_KEYS_FILE", "")

# The export signing key (Ed25519): signs the manifest of every audit export (docs/compliance.md). Same forms as
# the checkpoint key; best given as ZT_EXPORT_SIGNING_KEY_FILE. Retired export public keys (PEM file) are served
# beside the current one so examiners can still verify older exports after a rotation.
if DEBUG:
    ZT_EXPORT_SIGNING_KEY = env_str("ZT_EXPORT_SIGNING_KEY", "ZGV2LW9ubHktYXVkaXQtZXhwb3J0LXNpZ25pbmcta3k=")
else:
    ZT_EXPORT_SIGNING_KEY = env_str("ZT_EXPORT_SIGNING_KEY")
try:
    load_private_key(ZT_EXPORT_SIGNING_KEY)
except KeyFormatError as exc:
    raise ImproperlyConfigured(f"ZT_EXPORT_SIGNING_KEY is not an Ed25519 private key: {exc}") from None
ZT_EXPORT_PUBLIC_KEYS_FILE = env_str("ZT_EXPORT_PUBLIC_KEYS_FILE", "")
# Where finished exports (zip archives) are written; readable only by the console's service account.
ZT_EXPORT_DIR = env_str("ZT_EXPORT_DIR", str(VAR_DIR / "exports"))

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp_webauthn",
    "axes",
    "csp",
    "channels",
    "ztconsole.core",
    "accounts",
    "policies",
    "certificates",
    "sessions.apps.FixSessionsConfig",
    "console",
    "reports",
    "alerts",
    "retention",
]

MIDDLEWARE = [
    "ztconsole.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ztconsole.middleware.ConsoleOTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "ztconsole.middleware.OTPRequiredMiddleware",
    "ztconsole.middleware.SecretUnavailableMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ztconsole.urls"
ASGI_APPLICATION = "ztconsole.asgi.application"
WSGI_APPLICATION = "ztconsole.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ztconsole.core.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'ztconsole.sqlite3'}")
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0))
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions serialise writers up front, which the audit chain relies on;
    # WAL lets the web server and the Celery worker read while one of them writes.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif _db["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or sqlite:// URL")
elif env_bool("ZT_DB_POOL", True):
    # psycopg's connection pool, one per process (Django 5.1+): each ASGI request thread borrows a connection
    # and returns it, so a process never holds more than ZT_DB_POOL_MAX_SIZE connections to PostgreSQL, and
    # a request that finds them all busy waits up to ZT_DB_POOL_TIMEOUT seconds. See docs/operations.md.
    if _db.get("CONN_MAX_AGE"):
        raise ImproperlyConfigured("DATABASE_CONN_MAX_AGE must be 0 with ZT_DB_POOL on: the pool keeps connections")
    _pool_min = env_int("ZT_DB_POOL_MIN_SIZE", 2, minimum=0, maximum=500)
    _pool_max = env_int("ZT_DB_POOL_MAX_SIZE", 10, minimum=1, maximum=500)
    if _pool_min > _pool_max:
        raise ImproperlyConfigured(f"ZT_DB_POOL_MIN_SIZE={_pool_min} is above ZT_DB_POOL_MAX_SIZE={_pool_max}")
    _db["OPTIONS"] = {
        **_db.get("OPTIONS", {}),
        "pool": {
            "min_size": _pool_min,
            "max_size": _pool_max,
            "timeout": env_int("ZT_DB_POOL_TIMEOUT", 10, minimum=1, maximum=300),
        },
    }
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis / Valkey: Celery broker and results, channel layer, cache --------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_KEY_PREFIX = env_str("ZT_REDIS_PREFIX", "zt")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
        # One pool per process, not one per request context (a new Redis connection per ASGI request).
        "OPTIONS": {"pool_class": "ztconsole.core.redis_pool.SharedConnectionPool"},
    }
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # capacity: messages waiting per websocket before the layer drops new ones (default 100); the live
        # feeds coalesce, so a socket near this bound is one that stopped reading (docs/sessions.md).
        # socket_timeout: redis-py 8 reads with a 5 s timeout by default, the same 5 s a consumer's blocking pop
        # (BZPOPMIN) waits for a message, so an idle socket's read timed out and tore its websocket down; reads
        # get a bound well past the pop's, which still ends a connection to a Redis that went away.
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
            "prefix": f"{REDIS_KEY_PREFIX}:asgi",
            "capacity": 1000,
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = False  # never: tests that need tasks run a real worker
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # worker logs go through the JSON logging below
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:",
    # A task whose worker died (acks_late) goes back to the queue this long after it was delivered; it must
    # exceed the longest task's run time, or a slow task would run twice. Workers sweep for such tasks every
    # ZT_CELERY_RESTORE_INTERVAL seconds.
    "visibility_timeout": env_int("ZT_CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1),
    "unacked_restore_interval": env_int("ZT_CELERY_RESTORE_INTERVAL", 10, minimum=1, maximum=3600),
    "unacked_restore_throttle": 1,
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:"}
# Audit checkpoints: signed at least every N events, every few minutes and at every export, and appended to
# ZT_AUDIT_CHECKPOINT_PATH (a directory of daily *.jsonl files, or one file ending in .jsonl) outside the database.
ZT_AUDIT_CHECKPOINT_EVERY = env_int("ZT_AUDIT_CHECKPOINT_EVERY", 1000, minimum=1)
ZT_AUDIT_CHECKPOINT_MINUTES = env_int("ZT_AUDIT_CHECKPOINT_MINUTES", 5, minimum=1, maximum=60)
ZT_AUDIT_CHECKPOINT_PATH = env_str("ZT_AUDIT_CHECKPOINT_PATH", str(VAR_DIR / "audit-checkpoints"))
CELERY_BEAT_SCHEDULE = {
    "audit-checkpoint": {
        "task": "core.audit_checkpoint",
        "schedule": ZT_AUDIT_CHECKPOINT_MINUTES * 60.0,
    },
    "purge-expired-credentials": {
        "task": "accounts.tasks.purge_expired_credentials",
        "schedule": 3600.0,
    },
    "mark-stale-device-posture": {
        "task": "accounts.tasks.mark_stale_device_posture",
        "schedule": 300.0,
    },
    "refresh-crl": {
        "task": "certificates.tasks.refresh_crl",
        "schedule": 900.0,
    },
    "watch-certificate-expiry": {
        "task": "certificates.tasks.watch_certificate_expiry",
        "schedule": 3600.0,
    },
    "expire-policy-publications": {
        "task": "policies.tasks.expire_publications",
        "schedule": 300.0,
    },
    "reconcile-enforcement-points": {
        "task": "policies.tasks.reconcile_enforcement_points",
        "schedule": float(env_int("ZT_RECONCILE_SECONDS", 10, minimum=1, maximum=3600)),
    },
    "prune-fix-sessions": {
        "task": "sessions.tasks.prune",
        "schedule": 3600.0,
    },
}

# --- Authentication ----------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

OTP_TOTP_ISSUER = env_str("ZT_OTP_ISSUER", "ZT Console")
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
ZT_ENROLLMENT_CODE_TTL_HOURS = env_int("ZT_ENROLLMENT_CODE_TTL_HOURS", 72, minimum=1, maximum=720)
ZT_ENROLLMENT_MAX_ATTEMPTS = 5
ZT_STEP_UP_MAX_AGE_SECONDS = env_int("ZT_STEP_UP_MAX_AGE_SECONDS", 300, minimum=30, maximum=3600)
# WebAuthn / FIDO2 (django-otp-webauthn): a second factor after the password, never passwordless.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_RP_ID_CALLABLE = "accounts.webauthn.rp_id"
OTP_WEBAUTHN_RP_NAME_CALLABLE = "accounts.webauthn.rp_name"
OTP_WEBAUTHN_HELPER_CLASS = "accounts.webauthn.ConsoleWebAuthnHelper"
ZT_WEBAUTHN_RP_ID = env_str("ZT_WEBAUTHN_RP_ID", "")
ZT_WEBAUTHN_ORIGINS = env_list("ZT_WEBAUTHN_ORIGINS", [])
OTP_WEBAUTHN_ALLOWED_ORIGINS = ZT_WEBAUTHN_ORIGINS
# Without configured origins, accounts.webauthn.ConsoleWebAuthnHelper expects the request's own origin, whose
# host has passed ALLOWED_HOSTS; the library's check for an explicit list does not know that.
SILENCED_SYSTEM_CHECKS = [] if ZT_WEBAUTHN_ORIGINS else ["otp_webauthn.E030"]
ZT_WEBAUTHN_HARDWARE_AAGUIDS = env_list("ZT_WEBAUTHN_HARDWARE_AAGUIDS", [])
ZT_WEBAUTHN_REQUIRE_ALLOWLISTED = env_bool("ZT_WEBAUTHN_REQUIRE_ALLOWLISTED", False)
ZT_API_TOKEN_MAX_DAYS = env_int("ZT_API_TOKEN_MAX_DAYS", 365, minimum=1, maximum=3650)
# A device whose last posture report is older than this counts as of unknown compliance.
ZT_POSTURE_TTL_SECONDS = env_int("ZT_POSTURE_TTL_SECONDS", 3600, minimum=60)
# The internal CA: how far ahead a CRL's nextUpdate lies (beat re-signs it once a quarter of that remains),
# and the public base URL put in certificates' CRL distribution point (none when empty).
ZT_CRL_NEXT_UPDATE_HOURS = env_int("ZT_CRL_NEXT_UPDATE_HOURS", 24, minimum=1, maximum=24 * 30)
ZT_PKI_BASE_URL = env_str("ZT_PKI_BASE_URL", "").rstrip("/")
# Policy publication: a pending request (maker-checker) expires unless approved within this many hours.
ZT_PUBLICATION_TTL_HOURS = env_int("ZT_PUBLICATION_TTL_HOURS", 48, minimum=1, maximum=24 * 30)
# Distribution to the enforcement points (docs/distribution.md). The console's name goes in its client
# certificate's URI SAN (urn:ztconsole:console:<name>; the host name when empty).
ZT_CONSOLE_NAME = env_str("ZT_CONSOLE_NAME", "")
ZT_DELIVERY_TIMEOUT_SECONDS = env_int("ZT_DELIVERY_TIMEOUT_SECONDS", 10, minimum=1, maximum=300)
# Bundles are sent with Content-Encoding: gzip (a PEP from this version on accepts it; off for older ones).
ZT_DELIVERY_GZIP = env_bool("ZT_DELIVERY_GZIP", True)
ZT_DELIVERY_BACKOFF_BASE_SECONDS = env_int("ZT_DELIVERY_BACKOFF_BASE_SECONDS", 1, minimum=1, maximum=60)
ZT_DELIVERY_BACKOFF_MAX_SECONDS = env_int("ZT_DELIVERY_BACKOFF_MAX_SECONDS", 20, minimum=1, maximum=3600)
# A claimed delivery whose worker died is sent again (same row, same bytes) once its claim has lapsed.
ZT_DELIVERY_CLAIM_SECONDS = env_int("ZT_DELIVERY_CLAIM_SECONDS", 30, minimum=5, maximum=3600)
# A publication's (or revocation delta's) deliveries go out from one task per this many rows (0: one task for all),
# sent concurrently by at most ZT_DELIVERY_FANOUT_THREADS threads of that task.
ZT_DELIVERY_FANOUT_SIZE = env_int("ZT_DELIVERY_FANOUT_SIZE", 0, minimum=0, maximum=100_000)
ZT_DELIVERY_FANOUT_THREADS = env_int("ZT_DELIVERY_FANOUT_THREADS", 32, minimum=1, maximum=256)
ZT_RECONCILE_SECONDS = env_int("ZT_RECONCILE_SECONDS", 10, minimum=1, maximum=3600)
# A PEP silent for this long gets a status probe; one behind the version in force for this long raises an alert.
ZT_PEP_SILENCE_SECONDS = env_int("ZT_PEP_SILENCE_SECONDS", 120, minimum=5)
ZT_PEP_BEHIND_ALERT_SECONDS = env_int("ZT_PEP_BEHIND_ALERT_SECONDS", 300, minimum=5)
# FIX sessions (docs/sessions.md): how long ended sessions (with their decision log) and raw PEP events are
# kept, the largest event batch a PEP may post, and the websocket frame interval per browser.
ZT_SESSION_RETENTION_DAYS = env_int("ZT_SESSION_RETENTION_DAYS", 90, minimum=1, maximum=3650)
ZT_SESSION_EVENT_RETENTION_DAYS = env_int("ZT_SESSION_EVENT_RETENTION_DAYS", 30, minimum=1, maximum=3650)
ZT_SESSION_EVENTS_MAX_BATCH = env_int("ZT_SESSION_EVENTS_MAX_BATCH", 5000, minimum=1, maximum=100_000)
# 100 ms: a row waits at most one interval for its frame, and a frame is encoded once per view of the sessions
# (sessions/consumers.py), so the live lag stays within 250 ms at p99 with 1,000 sessions (bench_live_sessions).
ZT_SESSION_FRAME_MS = env_int("ZT_SESSION_FRAME_MS", 100, minimum=20, maximum=10_000)

# --- Alerts and SIEM forwarding (docs/alerts.md, docs/operations.md) ------------------------------------
# Detectors: the sign-in failure scan every few seconds (and at once, from the sign_in_failed hook), the
# enforcement-point and certificate detectors, and a full audit chain verification.
ZT_ALERT_SCAN_SECONDS = env_int("ZT_ALERT_SCAN_SECONDS", 2, minimum=1, maximum=300)
ZT_ALERT_DETECTOR_SECONDS = env_int("ZT_ALERT_DETECTOR_SECONDS", 30, minimum=5, maximum=3600)
ZT_ALERT_CHAIN_VERIFY_MINUTES = env_int("ZT_ALERT_CHAIN_VERIFY_MINUTES", 60, minimum=1, maximum=24 * 60)
# Syslog: udp://host[:514], tcp://host[:601] (RFC 6587 octet counting) or tls://host[:6514] (RFC 5425).
ZT_SIEM_SYSLOG_URL = env_url("ZT_SIEM_SYSLOG_URL", schemes=("udp", "tcp", "tls"))
ZT_SIEM_SYSLOG_CA_FILE = env_str("ZT_SIEM_SYSLOG_CA_FILE", "")
ZT_SIEM_SYSLOG_CLIENT_CERT_FILE = env_str("ZT_SIEM_SYSLOG_CLIENT_CERT_FILE", "")
ZT_SIEM_SYSLOG_CLIENT_KEY_FILE = env_str("ZT_SIEM_SYSLOG_CLIENT_KEY_FILE", "")
ZT_SIEM_SYSLOG_SERVER_NAME = env_str("ZT_SIEM_SYSLOG_SERVER_NAME", "")
ZT_SIEM_SYSLOG_HOSTNAME = env_str("ZT_SIEM_SYSLOG_HOSTNAME", "")
ZT_SIEM_SYSLOG_APP_NAME = env_str("ZT_SIEM_SYSLOG_APP_NAME", "ztconsole")
ZT_SIEM_SYSLOG_FACILITY = env_int("ZT_SIEM_SYSLOG_FACILITY", 13, minimum=0, maximum=23)
# HTTPS webhook: POST {"messages": [...]}, HMAC-SHA256 of the body in X-ZT-Signature when a secret is set.
ZT_SIEM_WEBHOOK_URL = env_url("ZT_SIEM_WEBHOOK_URL", schemes=("https", "http"))
if ZT_SIEM_WEBHOOK_URL.startswith("http://") and urlsplit(ZT_SIEM_WEBHOOK_URL).hostname not in (
    "127.0.0.1",
    "localhost",
    "::1",
):
    raise ImproperlyConfigured("ZT_SIEM_WEBHOOK_URL must be https:// (plain http only to a loopback address)")
ZT_SIEM_WEBHOOK_SECRET = env_str("ZT_SIEM_WEBHOOK_SECRET", "")
ZT_SIEM_WEBHOOK_TOKEN = env_str("ZT_SIEM_WEBHOOK_TOKEN", "")
ZT_SIEM_WEBHOOK_CA_FILE = env_str("ZT_SIEM_WEBHOOK_CA_FILE", "")
# The whole audit stream too (every event once, in seq order, resumed from the last acknowledged seq).
ZT_SIEM_FORWARD_AUDIT = env_bool("ZT_SIEM_FORWARD_AUDIT", False)
ZT_SIEM_BATCH = env_int("ZT_SIEM_BATCH", 200, minimum=1, maximum=5000)
ZT_SIEM_TIMEOUT_SECONDS = env_int("ZT_SIEM_TIMEOUT_SECONDS", 5, minimum=1, maximum=120)
ZT_SIEM_FLUSH_SECONDS = env_int("ZT_SIEM_FLUSH_SECONDS", 5, minimum=1, maximum=3600)
ZT_SIEM_BACKOFF_BASE_SECONDS = env_int("ZT_SIEM_BACKOFF_BASE_SECONDS", 1, minimum=1, maximum=600)
ZT_SIEM_BACKOFF_MAX_SECONDS = env_int("ZT_SIEM_BACKOFF_MAX_SECONDS", 300, minimum=1, maximum=86400)
# Audit retention (docs/audit.md, "Retention"): off (0) by default. Events older than this many days are
# archived to signed files in ZT_AUDIT_ARCHIVE_DIR (the export format) and then deleted from the database.
ZT_AUDIT_RETENTION_DAYS = env_int("ZT_AUDIT_RETENTION_DAYS", 0, minimum=0, maximum=36500)
ZT_AUDIT_ARCHIVE_DIR = env_str("ZT_AUDIT_ARCHIVE_DIR", str(VAR_DIR / "audit-archives"))
CELERY_BEAT_SCHEDULE.update(
    {
        "retention-apply-audit-retention": {"task": "retention.apply_audit_retention", "schedule": 3600.0},
        "alerts-scan-sign-in-failures": {
            "task": "alerts.scan_sign_in_failures",
            "schedule": float(ZT_ALERT_SCAN_SECONDS),
        },
        "alerts-scan-decisions": {"task": "alerts.scan_decisions", "schedule": float(ZT_ALERT_SCAN_SECONDS)},
        "alerts-run-detectors": {"task": "alerts.run_detectors", "schedule": float(ZT_ALERT_DETECTOR_SECONDS)},
        "alerts-verify-audit-chain": {
            "task": "alerts.verify_audit_chain",
            "schedule": ZT_ALERT_CHAIN_VERIFY_MINUTES * 60.0,
        },
        "alerts-siem-flush": {"task": "alerts.siem_flush", "schedule": float(ZT_SIEM_FLUSH_SECONDS)},
    }
)

AXES_FAILURE_LIMIT = env_int("ZT_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("ZT_LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
# Either limit locks: too many failures for one username from anywhere (password spraying from rotating
# addresses), or from one address for any usernames. A security officer can reset a lockout.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token", "token", "code"]
AXES_IPWARE_PROXY_COUNT = env_int("ZT_PROXY_COUNT", 0, minimum=0)

SESSION_COOKIE_AGE = env_int("ZT_SESSION_HOURS", 8, minimum=1, maximum=24) * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- HTTP security -----------------------------------------------------------------------------------
SECURE = env_bool("ZT_SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = env_bool("ZT_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^pki/"]
SECURE_HSTS_SECONDS = env_int("ZT_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("ZT_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

# --- Static files --------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("ZT_STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- API -----------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "accounts.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["ztconsole.core.permissions.DeclaredPermission"],
    "DEFAULT_PAGINATION_CLASS": "ztconsole.core.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "ztconsole.core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "ztconsole.core.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ZT Console API",
    "DESCRIPTION": "Control plane of the Zero Trust RFQ platform. Authenticate with an API token "
    "(`Authorization: Bearer zt_...`) or an OTP-verified console session.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["ztconsole.core.permissions.DeclaredPermission"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "ztconsole.core.openapi.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "IdentityKindEnum": "accounts.models.IdentityKind",
        "DeviceKindEnum": "accounts.models.DeviceKind",
        "CertificateStatusEnum": "certificates.models.CertificateStatus",
        "RevocationReasonEnum": "certificates.models.RevocationReason",
        "EnforcementPointStatusEnum": "policies.distribution.models.PointStatus",
        "EnforcementPointUpdatableStatusEnum": "policies.distribution.api.UPDATABLE_STATUSES",
        "DeliveryStateEnum": "policies.distribution.models.DeliveryState",
    },
}

# --- Internationalisation ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Logging: JSON lines with the request id; secrets are redacted by filter --------------------------
LOG_LEVEL = env_str("ZT_LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "ztconsole.logging.RequestIdFilter"},
        "redact": {"()": "ztconsole.logging.RedactSecretsFilter"},
    },
    "formatters": {
        "json": {
            "()": "ztconsole.logging.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},
    },
}
