"""Every state change of distribution: the registry, the outbox, deliveries and their outcomes, reconcile.

The outbox rule: whatever must reach the enforcement points is written as ``Delivery`` rows in the same
transaction as the change that makes it necessary (an approval, a revocation); the Celery task that sends
them is queued with ``transaction.on_commit``, so a rolled-back approval sends nothing and a committed one
is never forgotten (the reconcile beat task finds any row whose message was lost).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import random
import re
import secrets
import threading
from collections import Counter, OrderedDict
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, F, Max, Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.actions.core import ActionError
from accounts.models import Environment, Identity, IdentityKind, IdentityStatus
from pep.bundle import bundle_bytes, sign_payload
from pep.canonical import canonical_bytes
from policies.distribution.client import ControlAnswer, ControlClient, ControlError, PinMismatch, cached_client
from policies.distribution.models import (
    AlertKind,
    Delivery,
    DeliveryAttempt,
    DeliveryKind,
    DeliveryState,
    DistributionAlert,
    EnforcementPoint,
    PointStatus,
    RevocationDelta,
)
from policies.models import PolicyVersion, PublicationState, Segment
from ztconsole.core import audit, live
from ztconsole.core.roles import ADMINISTRATOR

logger = logging.getLogger(__name__)

LIVE_GROUP = "enforcement"
REVOCATION_FORMAT = "ztconsole-revocations/1"
TOKEN_PREFIX = "ztpep"  # noqa: S105 - the token format, not a secret
_TOKEN = re.compile(r"^ztpep_(?P<prefix>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{20,64})$")
_POINT_NAME = re.compile(r"^[a-z][a-z0-9-]{1,59}$")
_PERMANENT_REFUSALS = {"bad_signature", "unknown_key", "wrong_environment", "malformed"}


class DistributionError(ActionError):
    """A refused distribution action; the message names the problem, ``field`` the input at fault."""


def _now():
    return timezone.now()


def _user(actor: Any):
    return actor if getattr(actor, "is_authenticated", False) else None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- the registry -------------------------------------------------------------------------------------------


def _check_control_url(value: str) -> str:
    value = (value or "").strip()
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "https" or not parts.hostname or port is None or parts.query or parts.fragment:
        raise DistributionError("the control URL is https://host:port of the PEP's control listener", "control_url")
    return value.rstrip("/")


def _check_segments(environment: str, names: list[str] | None) -> list[str]:
    cleaned = sorted({str(n).strip() for n in names or () if str(n).strip()})
    known = set(Segment.objects.filter(environment=environment, name__in=cleaned).values_list("name", flat=True))
    unknown = [n for n in cleaned if n not in known]
    if unknown:
        raise DistributionError(f"no such segment in {environment}: {', '.join(unknown)}", field="segments")
    return cleaned


def _default_sponsor(actor: Any) -> Identity:
    """An active administrator or security officer other than the actor: whoever issues a certificate may not
    also sponsor its identity (certificates.actions), and registration issues the point's certificate."""
    from ztconsole.core.roles import SECURITY_OFFICER

    people = Group.objects.filter(name__in=[ADMINISTRATOR, SECURITY_OFFICER]).values_list("user", flat=True)
    candidates = Identity.objects.filter(user__in=people, kind=IdentityKind.HUMAN, status=IdentityStatus.ACTIVE)
    user = _user(actor)
    if user is not None:
        candidates = candidates.exclude(user=user)
    sponsor = candidates.order_by("pk").first()
    if sponsor is None:
        raise DistributionError("an enforcement point's identity needs a sponsor other than you: name one", "sponsor")
    return sponsor


def new_token() -> tuple[str, str, str]:
    """``(token, prefix, digest)``: the token is shown once; only the prefix and the digest are stored."""
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    return f"{TOKEN_PREFIX}_{prefix}_{secret}", prefix, digest(secret)


def point_for_token(raw: str) -> EnforcementPoint | None:
    """The registered, not retired point a bearer token belongs to, or None."""
    import hmac

    match = _TOKEN.match(raw or "")
    if match is None:
        return None
    point = EnforcementPoint.objects.filter(token_prefix=match["prefix"]).exclude(status=PointStatus.RETIRED).first()
    if point is None or not hmac.compare_digest(point.token_hash, digest(match["secret"])):
        return None
    return point


@transaction.atomic
def register_enforcement_point(
    actor: Any,
    *,
    name: str,
    environment: str,
    control_url: str,
    csr_pem: str | bytes,
    segments: list[str] | None = None,
    sponsor: Identity | None = None,
    lifetime_days: int | None = None,
    request: HttpRequest | None = None,
) -> tuple[EnforcementPoint, Any, str]:
    """Issue the PEP's certificate (profile ``pep``) from its CSR and register it, pinned to that certificate.

    Creates the PEP's service identity ``pep-<name>`` (sponsored by ``sponsor``, by default another
    administrator or security officer than the actor, who issues the certificate) and a
    PEP-scoped bearer token for the bundle pull, returned in the clear this once. Returns (point, cert, token).
    """
    from accounts.actions import create_non_person_identity
    from certificates.actions import issue_from_csr, profile_by_name

    name = (name or "").strip().lower()
    if not _POINT_NAME.match(name):
        raise DistributionError("name: 2-60 lower-case letters, digits or '-', starting with a letter", "name")
    if EnforcementPoint.objects.filter(name=name).exists():
        raise DistributionError(f"an enforcement point named {name!r} is already registered", field="name")
    if environment not in Environment.values:
        raise DistributionError(f"environment must be one of {', '.join(Environment.values)}", "environment")
    control_url = _check_control_url(control_url)
    cleaned_segments = _check_segments(environment, segments)
    if not csr_pem or not str(csr_pem if isinstance(csr_pem, str) else csr_pem.decode("latin-1")).strip():
        raise DistributionError("paste the PEP's certificate signing request (PEM)", field="csr")
    identity = create_non_person_identity(
        actor,
        name=f"pep-{name}",
        kind=IdentityKind.SERVICE,
        display_name=f"Enforcement point {name}",
        sponsor=sponsor or _default_sponsor(actor),
        environment=environment,
        request=request,
    )
    cert = issue_from_csr(
        actor,
        identity=identity,
        profile=profile_by_name("pep"),
        csr_pem=csr_pem,
        lifetime_days=lifetime_days,
        request=request,
    )
    token, prefix, token_hash = new_token()
    point = EnforcementPoint.objects.create(
        name=name,
        environment=environment,
        control_url=control_url,
        identity=identity,
        certificate=cert,
        pinned_sha256=cert.sha256,
        segments=cleaned_segments,
        token_prefix=prefix,
        token_hash=token_hash,
        registered_by=_user(actor),
    )
    audit.record(
        actor,
        "enforcement.point_registered",
        point,
        {
            "environment": environment,
            "control_url": control_url,
            "pinned_sha256": cert.sha256,
            "certificate_serial": cert.serial,
            "segments": cleaned_segments,
        },
        request,
    )
    _open_current(point)
    _publish_point(point)
    return point, cert, token


@transaction.atomic
def update_enforcement_point(
    actor: Any,
    point: EnforcementPoint,
    *,
    control_url: str,
    segments: list[str] | None,
    status: str,
    request: HttpRequest | None = None,
) -> EnforcementPoint:
    """Change where a point listens, what it fronts, or drain it (a draining point receives nothing new)."""
    point = EnforcementPoint.objects.select_for_update(no_key=True).get(pk=point.pk)
    if point.status == PointStatus.RETIRED:
        raise DistributionError(f"{point.name} is retired", field="status")
    if status not in (PointStatus.ACTIVE, PointStatus.DRAINING):
        raise DistributionError("the status is active or draining (retire a point with its own action)", "status")
    before = {"control_url": point.control_url, "segments": point.segments, "status": point.status}
    point.control_url = _check_control_url(control_url)
    point.segments = _check_segments(point.environment, segments)
    point.status = status
    point.save(update_fields=["control_url", "segments", "status"])
    after = {"control_url": point.control_url, "segments": point.segments, "status": point.status}
    audit.record(actor, "enforcement.point_updated", point, {"before": before, "after": after}, request)
    if point.status == PointStatus.ACTIVE:
        _open_current(point)
    _publish_point(point)
    return point


@transaction.atomic
def retire_enforcement_point(
    actor: Any, point: EnforcementPoint, *, reason: str, request: HttpRequest | None = None
) -> EnforcementPoint:
    """Take a point out for good: nothing more is sent to it, its token stops working, its certificate is
    revoked (cessationOfOperation; the other points learn it through a revocation delta)."""
    from certificates.actions import revoke_certificate
    from certificates.models import CertificateStatus

    reason = (reason or "").strip()
    if not reason:
        raise DistributionError("give a reason", field="reason")
    changed = (
        EnforcementPoint.objects.filter(pk=point.pk)
        .exclude(status=PointStatus.RETIRED)
        .update(status=PointStatus.RETIRED, retired_at=_now())
    )
    if changed != 1:
        raise DistributionError(f"{point.name} is already retired", field="status")
    point.refresh_from_db()
    cancelled = Delivery.objects.filter(point=point, state=DeliveryState.PENDING).update(
        state=DeliveryState.CANCELLED, claimed_until=None, detail="point retired"
    )
    DistributionAlert.objects.filter(point=point, resolved_at__isnull=True).update(resolved_at=_now())
    audit.record(
        actor, "enforcement.point_retired", point, {"reason": reason[:200], "cancelled_deliveries": cancelled}, request
    )
    if point.certificate is not None and point.certificate.status in (
        CertificateStatus.ACTIVE,
        CertificateStatus.SUPERSEDED,
    ):
        revoke_certificate(
            actor,
            point.certificate,
            reason="cessationOfOperation",
            comment=f"PEP {point.name} retired",
            request=request,
        )
    _publish_point(point)
    return point


# --- revocation deltas ----------------------------------------------------------------------------------------


def _lock_environment_sequence(environment: str) -> int:
    """The next revocation sequence of ``environment``, numbers taken under a lock (contiguous, never reused)."""
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"zt-revocations-{environment}".encode()).digest()[:4], "big")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
    # On SQLite the transaction already holds the database write lock (IMMEDIATE mode).
    latest = RevocationDelta.objects.filter(environment=environment).aggregate(m=Max("sequence"))["m"] or 0
    return latest + 1


def delta_payload(
    environment: str,
    sequence: int,
    issued_at: str,
    *,
    certificates: list[str],
    identities: list[str],
    devices: list[str],
) -> dict[str, Any]:
    """The payload of a signed revocation delta (docs/distribution.md)."""
    return {
        "format": REVOCATION_FORMAT,
        "environment": environment,
        "sequence": sequence,
        "issued_at": issued_at,
        "certificates": sorted(set(certificates)),
        "identities": sorted(set(identities)),
        "devices": sorted(set(devices)),
    }


def record_revocation(
    *,
    environment: str,
    certificates: list[str],
    identities: list[str],
    devices: list[str],
    actor: Any = None,
    request: HttpRequest | None = None,
    **_: Any,
) -> list[RevocationDelta]:
    """One signed delta per environment concerned, and its deliveries (``reactions`` calls this from the hooks).

    Runs inside the revoking action's transaction (certificate revoked, identity suspended or revoked, device
    retired); the sends are queued for after commit.
    """
    from policies.models import SigningKey

    if not (certificates or identities or devices):
        return []
    signing_key = SigningKey.objects.filter(active=True).first()
    if signing_key is None:
        # No signing key: nothing was ever published, so no point enforces anything yet to revoke from.
        return []
    key = SigningKeyCache.get(signing_key)
    environments = [environment] if environment else list(Environment.values)
    deltas = []
    now = _now().replace(microsecond=0)
    issued_at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for env in environments:
        sequence = _lock_environment_sequence(env)
        payload = delta_payload(
            env, sequence, issued_at, certificates=certificates, identities=identities, devices=devices
        )
        signed = bundle_bytes(sign_payload(payload, key))
        delta = RevocationDelta.objects.create(
            environment=env,
            sequence=sequence,
            certificates=payload["certificates"],
            identities=payload["identities"],
            devices=payload["devices"],
            signed=signed.decode(),
            sha256=hashlib.sha256(canonical_bytes(payload)).hexdigest(),
            created_at=now,
        )
        audit.record(
            actor,
            "enforcement.revocation_delta",
            delta,
            {
                "environment": env,
                "sequence": sequence,
                "certificates": payload["certificates"],
                "identities": payload["identities"],
                "devices": payload["devices"],
            },
            request,
        )
        ids = [
            _open_delivery(point, kind=DeliveryKind.REVOCATION, number=sequence, sha256=delta.sha256, revocation=delta)
            for point in EnforcementPoint.objects.filter(environment=env, status=PointStatus.ACTIVE)
        ]
        _send_after_commit([i for i in ids if i], fanout=True)
        deltas.append(delta)
    return deltas


class SigningKeyCache:
    """Decrypting the signing key costs an AES-GCM open and a PEM parse; revocations reuse it per process."""

    _cache: dict[str, Any] = {}

    @classmethod
    def get(cls, key) -> Any:
        loaded = cls._cache.get(key.kid)
        if loaded is None:
            loaded = cls._cache[key.kid] = key.load_private_key()
        return loaded


# --- the outbox -------------------------------------------------------------------------------------------


def _open_delivery(
    point: EnforcementPoint,
    *,
    kind: str,
    number: int,
    sha256: str,
    publication: PolicyVersion | None = None,
    revocation: RevocationDelta | None = None,
    reopen: bool = False,
) -> int | None:
    """The delivery row for (point, kind, number, sha256), created pending; an existing one is reused and,
    with ``reopen``, made pending again unless it was acknowledged. Returns its id when it is pending."""
    now = _now()
    delivery, created = Delivery.objects.get_or_create(
        point=point,
        kind=kind,
        number=number,
        sha256=sha256,
        defaults={
            "environment": point.environment,
            "publication": publication,
            "revocation": revocation,
            "next_attempt_at": now,
            "created_at": now,
        },
    )
    if created or delivery.state == DeliveryState.PENDING:
        return delivery.pk
    if reopen and delivery.state in (DeliveryState.SUPERSEDED, DeliveryState.CANCELLED, DeliveryState.ACKNOWLEDGED):
        Delivery.objects.filter(pk=delivery.pk).update(
            state=DeliveryState.PENDING, next_attempt_at=now, claimed_until=None, outcome="", reason="", detail=""
        )
        return delivery.pk
    return None


def _send_after_commit(ids: list[int], *, fanout: bool = False) -> None:
    if ids:
        transaction.on_commit(lambda: (dispatch_fanout if fanout else dispatch)(ids))


def dispatch(ids: list[int], countdown: float | None = None) -> None:
    """Queue the send task for each delivery; a broker outage only delays them (reconcile re-queues)."""
    from policies.tasks import deliver

    for pk in ids:
        try:
            deliver.apply_async((pk,), countdown=countdown)
        except Exception as exc:  # the broker is down: the row stays pending and reconcile finds it
            logger.warning("delivery %s not queued (%s); reconcile will send it", pk, type(exc).__name__)
            return


def dispatch_fanout(ids: list[int]) -> None:
    """Queue the fan-out of one publication or revocation delta: one task per ``ZT_DELIVERY_FANOUT_SIZE`` rows
    (``deliver_batch``); a broker outage only delays them (reconcile re-queues each row)."""
    from policies.tasks import deliver_batch

    size = settings.ZT_DELIVERY_FANOUT_SIZE or len(ids)
    for start in range(0, len(ids), size):
        try:
            deliver_batch.apply_async((ids[start : start + size],))
        except Exception as exc:  # the broker is down: the rows stay pending and reconcile finds them
            logger.warning("fan-out of %d deliveries not queued (%s); reconcile will send them", len(ids), exc)
            return


def enqueue_publication(publication: PolicyVersion) -> list[int]:
    """Called by ``approve_publication`` in its transaction: one delivery per active point of the environment.

    Pending deliveries of lower versions are superseded: a point only ever needs the highest approved one.
    """
    # Rows a worker holds right now are skipped, not waited for: that worker is finishing them (and its
    # transaction may be waiting for the audit head this approval already holds). One it leaves pending is
    # superseded when next sent (``_already_beyond``).
    lower = Delivery.objects.select_for_update(skip_locked=True).filter(
        kind=DeliveryKind.BUNDLE,
        environment=publication.environment,
        state=DeliveryState.PENDING,
        number__lt=publication.version,
    )
    Delivery.objects.filter(pk__in=list(lower.values_list("pk", flat=True)), state=DeliveryState.PENDING).update(
        state=DeliveryState.SUPERSEDED, outcome="superseded", detail=f"v{publication.version} approved"
    )
    ids = []
    for point in EnforcementPoint.objects.filter(environment=publication.environment, status=PointStatus.ACTIVE):
        pk = _open_delivery(
            point,
            kind=DeliveryKind.BUNDLE,
            number=publication.version,
            sha256=publication.sha256,
            publication=publication,
            reopen=True,
        )
        if pk:
            ids.append(pk)
    _send_after_commit(ids, fanout=True)
    transaction.on_commit(lambda: live.publish(LIVE_GROUP, {"type": "enforcement.update", "environment": ""}))
    return ids


def in_force(environment: str) -> PolicyVersion | None:
    """The approved version of ``environment``: its id, version and hash, read from an index (every acknowledgement
    and ledger row asks for them); the payload and the signed bundle, megabytes each, load on access."""
    return (
        PolicyVersion.objects.filter(environment=environment, state=PublicationState.APPROVED)
        .only("environment", "state", "version", "sha256")
        .order_by("-version")
        .first()
    )


def _open_current(point: EnforcementPoint) -> list[int]:
    """What a (newly) active point is missing: the version in force and the revocation deltas after its last."""
    ids = []
    current = in_force(point.environment)
    if current is not None and (point.acknowledged_version, point.acknowledged_sha256) != (
        current.version,
        current.sha256,
    ):
        pk = _open_delivery(
            point,
            kind=DeliveryKind.BUNDLE,
            number=current.version,
            sha256=current.sha256,
            publication=current,
            reopen=True,
        )
        if pk:
            ids.append(pk)
    for delta in RevocationDelta.objects.filter(
        environment=point.environment, sequence__gt=point.revocation_sequence
    ).order_by("sequence"):
        pk = _open_delivery(
            point, kind=DeliveryKind.REVOCATION, number=delta.sequence, sha256=delta.sha256, revocation=delta
        )
        if pk:
            ids.append(pk)
    _send_after_commit(ids)
    return ids


# --- sending --------------------------------------------------------------------------------------------------


def control_client() -> ControlClient:
    """The process's mutual-TLS client, presenting the active console credential."""
    from certificates.actions import chain_pem
    from certificates.console import active_credential

    credential = active_credential()
    if credential is None:
        raise ControlError("the console has no client certificate: run `manage.py issue_console_cert`")

    def build() -> ControlClient:
        from policies.distribution.client import client_context

        context = client_context(
            ca_pem=chain_pem(), cert_pem=credential.certificate_pem, key_pem=credential.private_key_pem()
        )
        return ControlClient(context, timeout=settings.ZT_DELIVERY_TIMEOUT_SECONDS)

    return cached_client(credential.sha256, build)


class BundleBodies:
    """The body a worker sends for a publication, built once per process and publication rather than once per
    delivery: reading the signed bundle (3.4 MB at 10k identities) from the database, encoding it and compressing
    it is the same work for every point. Keyed by (publication id, SHA-256); the last few are kept."""

    _lock = threading.Lock()
    _cache: OrderedDict[tuple[int, str, bool], bytes] = OrderedDict()
    KEEP = 4

    @classmethod
    def get(cls, publication_id: int, sha256: str, *, gzipped: bool) -> bytes:
        key = (publication_id, sha256, gzipped)
        with cls._lock:
            body = cls._cache.get(key)
            if body is not None:
                cls._cache.move_to_end(key)
                return body
            text = PolicyVersion.objects.filter(pk=publication_id).values_list("bundle", flat=True).get()
            body = text.encode()
            if gzipped:
                # mtime=0: the same bundle always compresses to the same bytes (PEPs share work by their hash).
                body = gzip.compress(body, compresslevel=6, mtime=0)
            cls._cache[key] = body
            while len(cls._cache) > cls.KEEP:
                cls._cache.popitem(last=False)
            return body


def _lock_point(point_id: int) -> EnforcementPoint:
    """The lock order of every transaction that changes a point and its deliveries: the point first (FOR NO KEY
    UPDATE, so inserts referencing it never wait), then its delivery rows, then the audit head."""
    return EnforcementPoint.objects.select_for_update(no_key=True).get(pk=point_id)


def _claim_hold() -> timedelta:
    # Held at least as long as a call may take, so a slow point is never sent the same row twice at once.
    return timedelta(seconds=max(settings.ZT_DELIVERY_CLAIM_SECONDS, settings.ZT_DELIVERY_TIMEOUT_SECONDS * 2 + 5))


def _claimable(now):
    return Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )


def _claim(delivery_id: int) -> bool:
    """Take the delivery for this worker until the claim lapses (a dead worker's claim lapses too)."""
    now = _now()
    return bool(
        _claimable(now).filter(pk=delivery_id).update(claimed_until=now + _claim_hold(), attempts=F("attempts") + 1)
    )


def _claim_many(delivery_ids: list[int]) -> list[int]:
    """Take every due, unheld delivery of ``delivery_ids`` in one transaction; returns the ids taken.

    Rows another transaction holds are skipped, not waited for (as an approval skips them): they are someone
    else's to finish. No point row is locked here and no audit is written, so the lock order is not involved.
    """
    now = _now()
    with transaction.atomic():
        ids = list(
            _claimable(now)
            .select_for_update(skip_locked=True, no_key=True)
            .filter(pk__in=list(delivery_ids))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if ids:
            # A row waits for a free sending thread: held for every round of calls before its own, too.
            rounds = -(-len(ids) // settings.ZT_DELIVERY_FANOUT_THREADS)
            hold = _claim_hold() + timedelta(seconds=settings.ZT_DELIVERY_TIMEOUT_SECONDS * (rounds - 1))
            Delivery.objects.filter(pk__in=ids).update(claimed_until=now + hold, attempts=F("attempts") + 1)
    return ids


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter, capped: base * 2^(n-1) scaled by a random factor in [0.5, 1]."""
    ceiling = min(
        settings.ZT_DELIVERY_BACKOFF_MAX_SECONDS, settings.ZT_DELIVERY_BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)
    )
    return ceiling * random.uniform(0.5, 1.0)


@dataclass
class _Sent:
    """One call to a point: the answer, or why there is none. Built by a sending thread, which never touches the
    database; recorded by the thread that owns the task."""

    delivery: Delivery
    started: Any
    answer: ControlAnswer | None = None
    error: ControlError | None = None


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    body: bytes
    encoding: str | None


def _load(delivery_ids: list[int]) -> list[Delivery]:
    return list(
        Delivery.objects.select_related("point", "publication", "revocation")
        .defer("publication__bundle", "publication__payload")
        .filter(pk__in=delivery_ids)
        .order_by("pk")
    )


def _skip(delivery: Delivery) -> str | None:
    """Why a claimed delivery is not sent after all (its point drained or retired, a higher version due)."""
    point = delivery.point
    if point.status != PointStatus.ACTIVE:  # drained or retired since the row was written
        Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
            state=DeliveryState.CANCELLED, claimed_until=None, detail=f"point {point.status}"
        )
        return "cancelled"
    if delivery.kind == DeliveryKind.BUNDLE and _already_beyond(delivery):
        return "superseded"
    return None


def _request(delivery: Delivery) -> _Request:
    """What to send (reads the database: build it in the task's own thread)."""
    if delivery.kind == DeliveryKind.BUNDLE:
        gzipped = settings.ZT_DELIVERY_GZIP
        body = BundleBodies.get(delivery.publication_id, delivery.sha256, gzipped=gzipped)
        return _Request("PUT", "/bundle", body, "gzip" if gzipped else None)
    return _Request("POST", "/revocations", delivery.revocation.signed.encode(), None)


def _send(client: ControlClient, delivery: Delivery, request: _Request) -> _Sent:
    """The call itself: no database access (the fan-out runs it in a pool thread)."""
    point = delivery.point
    sent = _Sent(delivery, _now())
    try:
        sent.answer = client.call(
            point.control_url,
            request.method,
            request.path,
            request.body,
            pinned=point.pinned_sha256,
            content_encoding=request.encoding,
        )
    except ControlError as exc:
        sent.error = exc
    return sent


def deliver(delivery_id: int, *, _depth: int = 0) -> str:
    """Send one delivery if it is due and nobody else holds it; record what the point answered.

    The path of retries, reconcile and sequence-gap fills; a publication's or a revocation's first sends go
    through ``deliver_batch``, which records the answers the same way (``_record_many``)."""
    if not _claim(delivery_id):
        return "not-due"
    (delivery,) = _load([delivery_id])
    skipped = _skip(delivery)
    if skipped:
        return skipped
    try:
        client = control_client()
    except ControlError as exc:
        return _record(_Sent(delivery, _now(), error=exc), _depth)
    return _record(_send(client, delivery, _request(delivery)), _depth)


def deliver_batch(delivery_ids: list[int]) -> dict[str, int]:
    """Fan one publication's (or one revocation delta's) deliveries out at once; returns the outcome counts.

    Claims every due row in one transaction, sends them concurrently over a bounded thread pool
    (``ZT_DELIVERY_FANOUT_THREADS``; the body is built once), and records the answers that have arrived together
    in one transaction (``_acknowledge_many``). Anything but a plain acknowledgement (no answer, a refusal, a
    version conflict, a sequence gap) is recorded one by one by the same code as ``deliver``, whose retries
    (backoff, reconcile) take it from there.
    """
    ids = _claim_many(delivery_ids)
    counts: Counter[str] = Counter()
    to_send: list[Delivery] = []
    try:
        for delivery in _load(ids):
            skipped = _skip(delivery)
            if skipped:
                counts[skipped] += 1
            else:
                to_send.append(delivery)
        if not to_send:
            return dict(counts)
        client = control_client()
        requests = {d.pk: _request(d) for d in to_send}
    except ControlError as exc:
        counts.update(_record_many([_Sent(d, _now(), error=exc) for d in to_send]))
        return dict(counts)
    except DatabaseError:
        # Nothing sent yet: let the rows go at once (the task is retried) rather than when the claim lapses.
        _release(ids, requeue=False)
        raise
    threads = max(1, min(settings.ZT_DELIVERY_FANOUT_THREADS, len(to_send)))
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="zt-fanout") as pool:
        futures = {pool.submit(_send, client, d, requests[d.pk]): d for d in to_send}
        waiting = set(futures)
        while waiting:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            arrived = []
            for future in done:
                try:
                    arrived.append(future.result())
                except Exception as exc:  # a bug in a sending thread: that row is retried, the others go on
                    logger.exception("fan-out send failed")
                    arrived.append(_Sent(futures[future], _now(), error=ControlError(type(exc).__name__)))
            counts.update(_record_many(arrived))
    return dict(counts)


def _clean_acknowledgement(delivery: Delivery, answer: ControlAnswer) -> tuple[str, int | None] | None:
    """``(outcome, revocation sequence)`` when the answer acknowledges exactly this delivery, else None."""
    body, status = answer.body, answer.body.get("status")
    if answer.http_status == 200 and status in ("applied", "already_applied"):
        if delivery.kind == DeliveryKind.REVOCATION:
            return str(status), int(body.get("sequence") or delivery.number)
        if body.get("sha256") == delivery.sha256 and body.get("version") == delivery.number:
            return str(status), None
        return None
    if (
        delivery.kind == DeliveryKind.BUNDLE
        and answer.http_status == 409
        and body.get("reason") == "lower_version"
        and (body.get("version"), body.get("sha256")) == (delivery.number, delivery.sha256)
    ):
        return "already_applied", None
    return None


def _record_many(sent: list[_Sent]) -> list[str]:
    """Record calls that returned together: the plain acknowledgements in one transaction, the rest one by one.

    A recording that fails (the database went away) leaves its rows pending and unclaimed and queues them for
    the per-delivery task: the point already has what was sent, so the resend finds it ``already_applied``.
    """
    acks, others = [], []
    for item in sent:
        clean = _clean_acknowledgement(item.delivery, item.answer) if item.answer is not None else None
        if clean is not None:
            acks.append(_Ack(item.delivery, clean[0], clean[1], item))
        else:
            others.append(item)
    outcomes: list[str] = []
    if acks:
        try:
            _acknowledge_many(acks)
            outcomes += [ack.outcome for ack in acks]
        except DatabaseError:
            logger.exception("recording %d acknowledgements failed; they are sent again one by one", len(acks))
            _release([ack.delivery.pk for ack in acks])
            outcomes += ["requeued"] * len(acks)
    for item in others:
        try:
            outcomes.append(_record(item, 0))
        except DatabaseError:
            logger.exception("recording delivery %s failed; it is sent again", item.delivery.pk)
            _release([item.delivery.pk])
            outcomes.append("requeued")
    return outcomes


def _release(delivery_ids: list[int], *, requeue: bool = True) -> None:
    try:
        Delivery.objects.filter(pk__in=delivery_ids, state=DeliveryState.PENDING).update(claimed_until=None)
    except DatabaseError:  # the claim lapses on its own, and reconcile queues the rows again
        return
    if requeue:
        dispatch(delivery_ids, countdown=1)


def _record(sent: _Sent, depth: int = 0) -> str:
    """What one call to a point means for its delivery: the one place every answer is interpreted."""
    delivery = sent.delivery
    if isinstance(sent.error, PinMismatch):
        _attempt(delivery, sent.started, 0, "pin_mismatch", None, "pin_mismatch", str(sent.error))
        _refuse(delivery, "pin_mismatch", str(sent.error), alert=AlertKind.PIN_MISMATCH)
        return "pin_mismatch"
    if sent.error is not None or sent.answer is None:
        latency = int((_now() - sent.started).total_seconds() * 1000)
        _attempt(delivery, sent.started, latency, "error", None, "", str(sent.error))
        _retry_later(delivery, str(sent.error))
        return "retry"
    answer = sent.answer
    clean = _clean_acknowledgement(delivery, answer)
    if clean is not None:
        # The common answer: its attempt and its outcome in one transaction.
        _acknowledge_many([_Ack(delivery, clean[0], clean[1], sent)])
        return clean[0]
    _attempt(delivery, sent.started, **_attempt_fields(answer))
    if delivery.kind == DeliveryKind.BUNDLE:
        return _bundle_outcome(delivery, answer)
    return _revocation_outcome(delivery, answer, depth)


def _detail(answer: ControlAnswer) -> str:
    return str(answer.body.get("detail", ""))[:300]


def _attempt_fields(answer: ControlAnswer) -> dict[str, Any]:
    return {
        "latency_ms": answer.latency_ms,
        "outcome": str(answer.body.get("status", "")) or "unknown",
        "http_status": answer.http_status,
        "reason": str(answer.body.get("reason", "")),
        "detail": _detail(answer),
    }


def _already_beyond(delivery: Delivery) -> bool:
    """A higher version was approved, or the point already acknowledged this one or a higher one."""
    point = delivery.point  # read with the delivery, just after the claim
    higher = PolicyVersion.objects.filter(
        environment=delivery.environment, state=PublicationState.APPROVED, version__gt=delivery.number
    ).exists()
    if higher or (point.acknowledged_version or 0) > delivery.number:
        Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
            state=DeliveryState.SUPERSEDED, claimed_until=None, outcome="superseded", detail="a higher version is due"
        )
        return True
    return False


def _bundle_outcome(delivery: Delivery, answer: ControlAnswer) -> str:
    """A bundle's answer that is not a plain acknowledgement (``_clean_acknowledgement`` took those)."""
    body, status = answer.body, answer.body.get("status")
    if answer.http_status == 200 and status in ("applied", "already_applied"):
        _refuse(delivery, "hash_mismatch", f"the PEP reports v{body.get('version')} {body.get('sha256')}")
        return "refused"
    if answer.http_status == 409 and body.get("reason") == "lower_version":
        version, sha = body.get("version"), body.get("sha256")
        known = PolicyVersion.objects.filter(
            environment=delivery.environment, version=version, state=PublicationState.APPROVED, sha256=sha
        ).first()
        if isinstance(version, int) and version > delivery.number and known is not None:
            _supersede_by_point(delivery, known)
            return "superseded"
        _refuse(delivery, "unknown_version", f"the PEP enforces v{version} {sha}, which the console never approved")
        return "refused"
    if answer.http_status in (409, 422) and status == "refused":
        _refuse(delivery, str(body.get("reason") or "refused")[:40], _detail(answer))
        return "refused"
    _retry_later(delivery, f"HTTP {answer.http_status}: {status}")
    return "retry"


def _revocation_outcome(delivery: Delivery, answer: ControlAnswer, depth: int) -> str:
    """A revocation's answer that is not a plain acknowledgement."""
    body, status = answer.body, answer.body.get("status")
    if answer.http_status == 409 and body.get("reason") == "sequence_gap" and depth < 2:
        last = int(body.get("sequence") or 0)
        EnforcementPoint.objects.filter(pk=delivery.point_id).update(revocation_sequence=last, last_contact_at=_now())
        # Send what the point is missing, in order, then this delta again.
        for delta in RevocationDelta.objects.filter(
            environment=delivery.environment, sequence__gt=last, sequence__lt=delivery.number
        ).order_by("sequence"):
            with transaction.atomic():
                pk = _open_delivery(
                    delivery.point,
                    kind=DeliveryKind.REVOCATION,
                    number=delta.sequence,
                    sha256=delta.sha256,
                    revocation=delta,
                    reopen=True,
                )
            if pk:
                Delivery.objects.filter(pk=pk).update(next_attempt_at=_now(), claimed_until=None)
                deliver(pk, _depth=depth + 1)
        Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(claimed_until=None)
        return deliver(delivery.pk, _depth=depth + 1)
    if answer.http_status in (409, 422) and status == "refused":
        _refuse(delivery, str(body.get("reason") or "refused")[:40], _detail(answer))
        return "refused"
    _retry_later(delivery, f"HTTP {answer.http_status}: {status}")
    return "retry"


def _attempt_row(delivery, started, latency_ms, outcome, http_status, reason, detail) -> DeliveryAttempt:
    return DeliveryAttempt(
        delivery=delivery,
        started_at=started,
        latency_ms=max(0, latency_ms),
        outcome=outcome[:24],
        http_status=http_status,
        reason=(reason or "")[:40],
        detail=(detail or "")[:300],
    )


def _attempt(delivery, started, latency_ms, outcome, http_status, reason, detail) -> None:
    _attempt_row(delivery, started, latency_ms, outcome, http_status, reason, detail).save(force_insert=True)


@dataclass
class _Ack:
    delivery: Delivery
    outcome: str
    sequence: int | None = None
    sent: _Sent | None = None  # the call answered (None: acknowledged by other means, e.g. a page's test)


def _acknowledge(delivery: Delivery, outcome: str, *, sequence: int | None = None) -> None:
    _acknowledge_many([_Ack(delivery, outcome, sequence)])


_POINT_ACK_FIELDS = [
    "acknowledged_version",
    "acknowledged_sha256",
    "acknowledged_at",
    "last_contact_at",
    "behind_since",
    "revocation_sequence",
]


@transaction.atomic
def _acknowledge_many(acks: list[_Ack]) -> None:
    """Acknowledge deliveries in one transaction: their attempts, their rows, their points and one audit event per
    version (or revocation sequence) per point, in the lock order: the points (by pk), their deliveries, the
    audit head last."""
    points = _lock_points({ack.delivery.point_id for ack in acks})
    ids = [ack.delivery.pk for ack in acks]
    pending = set(
        Delivery.objects.select_for_update(no_key=True)
        .filter(pk__in=ids, state=DeliveryState.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    now = _now()
    attempts = [
        _attempt_row(ack.delivery, ack.sent.started, **_attempt_fields(ack.sent.answer))
        for ack in acks
        if ack.sent is not None and ack.sent.answer is not None
    ]
    if attempts:
        DeliveryAttempt.objects.bulk_create(attempts)
    by_outcome: dict[str, list[int]] = {}
    for ack in acks:
        if ack.delivery.pk in pending:
            by_outcome.setdefault(ack.outcome, []).append(ack.delivery.pk)
    for outcome, pks in by_outcome.items():
        Delivery.objects.filter(pk__in=pks).update(
            state=DeliveryState.ACKNOWLEDGED,
            acknowledged_at=now,
            outcome=outcome,
            claimed_until=None,
            reason="",
            detail="",
        )
    current: dict[str, PolicyVersion | None] = {}
    events: list[tuple] = []
    caught_up: list[int] = []
    for ack in acks:
        delivery, point = ack.delivery, points[ack.delivery.point_id]
        point.last_contact_at = now
        latency_ms = int((now - delivery.created_at).total_seconds() * 1000)
        if delivery.kind == DeliveryKind.BUNDLE:
            if point.environment not in current:
                current[point.environment] = in_force(point.environment)
            event, up = _take_version(
                point,
                delivery.number,
                delivery.sha256,
                now,
                outcome=ack.outcome,
                latency_ms=latency_ms,
                current=current[point.environment],
            )
            events += [event] if event else []
            caught_up += [point.pk] if up else []
        else:
            sequence = ack.sequence or delivery.number
            point.revocation_sequence = max(point.revocation_sequence, sequence)
            if delivery.pk in pending:
                details = {
                    "environment": point.environment,
                    "sequence": delivery.number,
                    "sha256": delivery.sha256,
                    "outcome": ack.outcome,
                    "latency_ms": latency_ms,
                }
                events.append((None, "enforcement.revocation_applied", point, details))
    EnforcementPoint.objects.bulk_update(list(points.values()), _POINT_ACK_FIELDS)
    answered = (AlertKind.REFUSED, AlertKind.PIN_MISMATCH, AlertKind.UNREACHABLE)
    DistributionAlert.objects.filter(point__in=list(points), resolved_at__isnull=True).filter(
        Q(kind__in=answered) | Q(kind=AlertKind.BEHIND, point__in=caught_up)
    ).update(resolved_at=now)
    if events:
        audit.record_batch(events)
    _publish_points(list(points))


def _lock_points(point_ids) -> dict[int, EnforcementPoint]:
    """Several points locked as ``_lock_point`` locks one, in pk order (two batches never wait on each other in a
    cycle)."""
    return {
        p.pk: p
        for p in EnforcementPoint.objects.select_for_update(no_key=True).filter(pk__in=sorted(point_ids)).order_by("pk")
    }


def _take_version(point, version, sha256, now, *, outcome, latency_ms, current) -> tuple[tuple | None, bool]:
    """The point enforces (version, sha256): its fields set, and the audit event to write when the version is new
    to it (one per version per point); second, whether it now enforces the version in force."""
    event = None
    new = (point.acknowledged_version, point.acknowledged_sha256) != (version, sha256)
    if new and (point.acknowledged_version or 0) <= version:
        point.acknowledged_version, point.acknowledged_sha256, point.acknowledged_at = version, sha256, now
        details = {"environment": point.environment, "version": version, "sha256": sha256, "outcome": outcome}
        if latency_ms is not None:
            details["latency_ms"] = latency_ms
        event = (None, "enforcement.acknowledged", point, details)
    up = current is not None and point.acknowledged_version == current.version
    if up:
        point.behind_since = None
    return event, up


def _note_version(point: EnforcementPoint, version: int, sha256: str, now, *, outcome: str, latency_ms=None) -> None:
    """The point enforces (version, sha256): record it once (one audit event per version per point)."""
    event, up = _take_version(
        point, version, sha256, now, outcome=outcome, latency_ms=latency_ms, current=in_force(point.environment)
    )
    if up:
        _resolve_alerts(point, (AlertKind.BEHIND,))
    point.save(
        update_fields=[
            "acknowledged_version",
            "acknowledged_sha256",
            "acknowledged_at",
            "last_contact_at",
            "behind_since",
        ]
    )
    if event:
        audit.record(*event)


@transaction.atomic
def _supersede_by_point(delivery: Delivery, known: PolicyVersion) -> None:
    point = _lock_point(delivery.point_id)
    Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
        state=DeliveryState.SUPERSEDED,
        claimed_until=None,
        outcome="lower_version",
        detail=f"point has v{known.version}",
    )
    point.last_contact_at = _now()
    _note_version(point, known.version, known.sha256, point.last_contact_at, outcome="lower_version")
    _publish_point(point)


@transaction.atomic
def _refuse(delivery: Delivery, reason: str, detail: str, *, alert: str = AlertKind.REFUSED) -> None:
    point = _lock_point(delivery.point_id)
    now = _now()
    changed = Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
        state=DeliveryState.REFUSED, claimed_until=None, outcome="refused", reason=reason[:40], detail=detail[:300]
    )
    point.last_refusal_reason, point.last_refusal_detail, point.last_refusal_at = reason[:40], detail[:300], now
    if alert != AlertKind.PIN_MISMATCH:
        point.last_contact_at = now
    point.save(update_fields=["last_refusal_reason", "last_refusal_detail", "last_refusal_at", "last_contact_at"])
    if changed:
        label = f"v{delivery.number}" if delivery.kind == DeliveryKind.BUNDLE else f"revocations #{delivery.number}"
        _raise_alert(point, alert, f"{label} not delivered: {reason}: {detail}"[:300])
        audit.record(
            None,
            "enforcement.delivery_refused",
            point,
            {
                "kind": delivery.kind,
                "number": delivery.number,
                "sha256": delivery.sha256,
                "reason": reason,
                "detail": detail,
            },
        )
    _publish_point(point)


def _retry_later(delivery: Delivery, detail: str) -> None:
    delay = backoff_seconds(Delivery.objects.get(pk=delivery.pk).attempts)
    changed = Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.PENDING).update(
        claimed_until=None,
        next_attempt_at=_now() + timedelta(seconds=delay),
        outcome="retrying",
        detail=detail[:300],
    )
    if changed:
        dispatch([delivery.pk], countdown=delay)


def _raise_alert(point: EnforcementPoint, kind: str, message: str) -> bool:
    """Open an alert unless one of that kind is already open; audited once, when it opens."""
    if DistributionAlert.objects.filter(point=point, kind=kind, resolved_at__isnull=True).exists():
        return False
    DistributionAlert.objects.create(point=point, kind=kind, message=message[:300], created_at=_now())
    audit.record(None, "enforcement.alert", point, {"kind": kind, "message": message[:300]})
    return True


def _resolve_alerts(point: EnforcementPoint, kinds) -> None:
    DistributionAlert.objects.filter(point=point, kind__in=list(kinds), resolved_at__isnull=True).update(
        resolved_at=_now()
    )


# --- reconcile and status probes -----------------------------------------------------------------------------


def reconcile() -> dict[str, int]:
    """Beat: every active point gets what it lacks; due deliveries whose message was lost are queued again;
    points silent too long are probed; points behind too long raise an alert."""
    now = _now()
    probes: list[int] = []
    behind_alerts = 0
    current = {env: in_force(env) for env in Environment.values}
    latest_seq = dict(
        RevocationDelta.objects.values_list("environment").annotate(m=Max("sequence")).values_list("environment", "m")
    )
    silence = timedelta(seconds=settings.ZT_PEP_SILENCE_SECONDS)
    for point in EnforcementPoint.objects.filter(status=PointStatus.ACTIVE):
        version = current.get(point.environment)
        behind = version is not None and (point.acknowledged_version, point.acknowledged_sha256) != (
            version.version,
            version.sha256,
        )
        with transaction.atomic():
            if behind:
                if not Delivery.objects.filter(
                    point=point, kind=DeliveryKind.BUNDLE, number=version.version, state=DeliveryState.REFUSED
                ).exists():
                    _open_delivery(
                        point,
                        kind=DeliveryKind.BUNDLE,
                        number=version.version,
                        sha256=version.sha256,
                        publication=version,
                        reopen=True,
                    )
                if point.behind_since is None:
                    EnforcementPoint.objects.filter(pk=point.pk).update(behind_since=now)
                elif now - point.behind_since > timedelta(seconds=settings.ZT_PEP_BEHIND_ALERT_SECONDS):
                    lag = version.version - (point.acknowledged_version or 0)
                    behind_alerts += _raise_alert(
                        point,
                        AlertKind.BEHIND,
                        f"{lag} version(s) behind v{version.version} since {point.behind_since:%Y-%m-%d %H:%M:%S}Z",
                    )
            for sequence in range(point.revocation_sequence + 1, latest_seq.get(point.environment, 0) + 1):
                delta = RevocationDelta.objects.get(environment=point.environment, sequence=sequence)
                _open_delivery(
                    point, kind=DeliveryKind.REVOCATION, number=sequence, sha256=delta.sha256, revocation=delta
                )
        if point.last_contact_at is None or now - point.last_contact_at > silence:
            probes.append(point.pk)
    # Everything pending and due that no live worker holds: what was just opened, and rows whose message
    # was lost (broker restarted, worker killed: its claim has lapsed).
    now = _now()
    queue = list(
        Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("kind", "number", "pk")
        .values_list("pk", flat=True)[:1000]
    )
    dispatch(queue)
    if probes:
        from policies.tasks import probe_point

        for pk in probes:
            try:
                probe_point.delay(pk)
            except Exception:  # broker down: next beat
                break
    return {"queued": len(queue), "probed": len(probes), "behind_alerts": behind_alerts}


def probe(point_id: int) -> str:
    """``GET /status`` of one point: record the contact, and the version it enforces when the console knows it."""
    point = EnforcementPoint.objects.get(pk=point_id)
    if point.status != PointStatus.ACTIVE:
        return "inactive"
    try:
        answer = control_client().call(point.control_url, "GET", "/status", None, pinned=point.pinned_sha256)
    except PinMismatch as exc:
        with transaction.atomic():
            _raise_alert(point, AlertKind.PIN_MISMATCH, str(exc))
        _publish_point(point)
        return "pin_mismatch"
    except ControlError as exc:
        silence = timedelta(seconds=settings.ZT_PEP_SILENCE_SECONDS)
        if _now() - (point.last_contact_at or point.created_at) > silence:
            with transaction.atomic():
                _raise_alert(point, AlertKind.UNREACHABLE, f"no answer from {point.control_url}: {exc}")
            _publish_point(point)
        return "unreachable"
    body = answer.body
    with transaction.atomic():
        point = _lock_point(point_id)
        now = _now()
        point.last_contact_at = now
        version, sha = body.get("version"), body.get("sha256")
        known = (
            PolicyVersion.objects.filter(
                environment=point.environment, version=version, sha256=sha, state=PublicationState.APPROVED
            ).first()
            if isinstance(version, int)
            else None
        )
        sequence = body.get("revocation_sequence")
        if isinstance(sequence, int) and sequence > point.revocation_sequence:
            point.revocation_sequence = sequence
        point.save(update_fields=["last_contact_at", "revocation_sequence"])
        if known is not None:
            Delivery.objects.filter(
                point=point,
                kind=DeliveryKind.BUNDLE,
                number=known.version,
                sha256=known.sha256,
                state=DeliveryState.PENDING,
            ).update(state=DeliveryState.ACKNOWLEDGED, acknowledged_at=now, outcome="status", claimed_until=None)
            _note_version(point, known.version, known.sha256, now, outcome="status")
        _resolve_alerts(point, (AlertKind.UNREACHABLE,))
    _publish_point(point)
    return str(body.get("status", ""))


def note_pull(point: EnforcementPoint) -> None:
    """A point fetched its bundle: it is alive (the version it then enforces comes from a push or a probe)."""
    EnforcementPoint.objects.filter(pk=point.pk).update(last_contact_at=_now())


# --- what the ledger shows ---------------------------------------------------------------------------------


def point_row(point: EnforcementPoint, current: PolicyVersion | None = None) -> dict[str, Any]:
    """One ledger row as JSON (the page renders it, the websocket sends it)."""
    current = current if current is not None else in_force(point.environment)
    lag = None
    if current is not None:
        lag = current.version - (point.acknowledged_version or 0)
    return {
        "id": point.pk,
        "name": point.name,
        "environment": point.environment,
        "status": point.status,
        "version": point.acknowledged_version,
        "sha256": point.acknowledged_sha256,
        "acknowledged_at": point.acknowledged_at.isoformat() if point.acknowledged_at else None,
        "lag": lag,
        "in_force": current.version if current else None,
        "converged": bool(current and point.acknowledged_sha256 == current.sha256),
        "revocation_sequence": point.revocation_sequence,
        "last_contact_at": point.last_contact_at.isoformat() if point.last_contact_at else None,
        "last_refusal": point.last_refusal_reason,
        "last_refusal_detail": point.last_refusal_detail,
        "alerts": (
            point.open_alerts
            if hasattr(point, "open_alerts")
            else point.alerts.filter(resolved_at__isnull=True).count()
        ),
    }


def _publish_point(point: EnforcementPoint) -> None:
    _publish_points([point.pk])


def _publish_points(point_ids: list[int]) -> None:
    """After commit, the ledger rows of these points in one live message batch."""
    pks = list(point_ids)

    def send() -> None:
        current: dict[str, PolicyVersion | None] = {}
        messages = []
        points = EnforcementPoint.objects.filter(pk__in=pks).annotate(
            open_alerts=Count("alerts", filter=Q(alerts__resolved_at__isnull=True))
        )
        for fresh in points.order_by("pk"):
            if fresh.environment not in current:
                current[fresh.environment] = in_force(fresh.environment)
            row = point_row(fresh, current[fresh.environment])
            messages.append({"type": "enforcement.update", "environment": fresh.environment, "point": row})
        if messages:
            live.publish(LIVE_GROUP, *messages)

    transaction.on_commit(send)


def payload_json(delta: RevocationDelta) -> dict[str, Any]:
    return json.loads(delta.signed)["payload"]
