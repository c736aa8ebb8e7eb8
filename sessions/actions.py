"""Every state change of FIX sessions: ingesting a PEP's events, terminating a session, pruning.

Ingestion is one transaction per batch with a fixed number of queries whatever its size (docs/sessions.md,
"Ingestion"): lock the point, insert the raw events (ON CONFLICT DO NOTHING), read the sessions the batch
touches, upsert them, insert the decision log rows. Live updates go out after commit, coalesced.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Identity
from policies.distribution.client import ControlError
from policies.distribution.models import EnforcementPoint
from sessions import ingest, selectors, storage
from sessions.models import (
    LIVE_STATES,
    Decision,
    FixSession,
    PepEvent,
    StepUpRequest,
    StepUpState,
    TerminationRequest,
    TerminationState,
)
from ztconsole.core import audit, hooks, live
from ztconsole.core.consumers import user_group
from ztconsole.core.errors import ActionError

logger = logging.getLogger(__name__)

SESSION_FIELDS = [
    "environment",
    "boot",
    "last_seq",
    "state",
    "listener",
    "source_ip",
    "source_port",
    "sender_comp_id",
    "target_comp_id",
    "begin_string",
    "identity_name",
    "identity",
    "device_ref",
    "tls_version",
    "cipher",
    "peer_fingerprint",
    "peer_subject",
    "certificate",
    "outcome",
    "score",
    "contributions",
    "matched_rule",
    "decision_reason",
    "bundle_version",
    "heartbeat_interval",
    "client_seq",
    "venue_seq",
    "messages_in",
    "messages_out",
    "rejected",
    "last_message_at",
    "started_at",
    "ended_at",
    "ended_by",
    "end_reason",
    "updated_at",
]


EVENT_FIELDS = ["boot", "seq", "time", "type", "session_id", "line"]  # and the point and time received
DECISION_FIELDS = [  # and the point and its environment
    "boot",
    "seq",
    "session_id",
    "time",
    "kind",
    "outcome",
    "identity_name",
    "identity",
    "sender_comp_id",
    "msg_type",
    "score",
    "matched_rule",
    "reason",
    "bundle_version",
    "inputs",
    "alert_pending",
]


# A Terminate still unanswered after this long (the PEP's answer takes well under a second) may be asked again.
TERMINATION_ANSWER_SECONDS = 60


class SessionError(ActionError):
    """A refused session action; the message names the problem, ``field`` the input at fault."""


@dataclass(frozen=True)
class IngestResult:
    received: int
    sessions: int


# --- ingestion ------------------------------------------------------------------------------------------------


def ingest_events(point: EnforcementPoint, body: bytes) -> IngestResult:
    """Validate, store and project one batch of a PEP's events (JSON Lines) in one transaction.

    The whole batch is refused (``ingest.EventBatchError``, nothing written) when a line is not a valid event or
    names another point or environment. Replays are harmless: raw events and decisions are unique by
    (point, boot, seq), and a session applies only events newer than the last one it applied.
    """
    events = ingest.parse_batch(
        body, pep_name=point.name, environment=point.environment, max_events=settings.ZT_SESSION_EVENTS_MAX_BATCH
    )
    if not events:
        return IngestResult(0, 0)
    now = timezone.now()
    with transaction.atomic():
        # One batch per point at a time: the projection reads then writes the point's sessions.
        storage.lock_point(point.pk)
        # Only the events not stored yet: the point's lock keeps any other batch of this point from storing them
        # meanwhile, so a plain insert cannot meet a conflict (a replayed or repeated event is left out here).
        storage.insert_new(
            PepEvent,
            EVENT_FIELDS,
            [(e.boot, e.seq, e.time, e.type, e.session, e.raw) for e in _unstored(point, events)],
            {"point": point.pk, "received_at": now},
        )
        names = {str(e.fields["identity"]) for e in events if e.type in IDENTIFYING and e.fields.get("identity")}
        identities = storage.identity_ids(names)
        changed, transitions = _project(point, events, now, identities)
        _log_decisions(point, events, identities)
        _step_up_requests(point, events, now)
        if any(ingest.flagged(e) for e in events):
            hooks.fix_logons_flagged.fire(None, point)
    if changed:
        name = point.name
        rows = [(s.pk, selectors.row(s, name, transition=s.pk in transitions)) for s in changed]
        transaction.on_commit(lambda: live.publish_latest(selectors.LIVE_GROUP, selectors.LIVE_MESSAGE, rows))
    return IngestResult(len(events), len(changed))


IDENTIFYING = ("logon_decision", "session_live", "step_up_requested")


def _unstored(point: EnforcementPoint, events: list[ingest.Event]) -> list[ingest.Event]:
    """The batch's events whose (boot, seq) the console has not stored, each once."""
    seqs = [e.seq for e in events]
    stored = storage.stored_events(point.pk, list({e.boot for e in events}), min(seqs), max(seqs))
    out = []
    for event in events:
        key = (event.boot, event.seq)
        if key not in stored:
            stored.add(key)
            out.append(event)
    return out


@cache
def _row_columns() -> tuple[str, ...]:
    """``pk``, ``point_id``, ``session_id`` then every projected field's attname: a ``SessionRow``'s columns."""
    meta = FixSession._meta
    return ("pk", "point_id", "session_id", *(meta.get_field(name).attname for name in SESSION_FIELDS))


@cache
def _row_defaults() -> dict[str, Any]:
    """A new session's columns before its first event (the model's defaults; ``contributions`` is set per row)."""
    meta = FixSession._meta
    out: dict[str, Any] = {"pk": None}
    for name in SESSION_FIELDS:
        field = meta.get_field(name)
        out[field.attname] = None if field.name == "contributions" else field.get_default()
    return out


def _project(
    point: EnforcementPoint, events: list[ingest.Event], now, identities: dict[str, int]
) -> tuple[list[ingest.SessionRow], set[int]]:
    by_session: dict[str, list[ingest.Event]] = {}
    for event in events:
        if event.session:
            by_session.setdefault(event.session, []).append(event)
    if not by_session:
        return [], set()
    columns = _row_columns()
    existing = {
        values[2]: ingest.SessionRow(dict(zip(columns, values, strict=True)))
        for values in storage.rows_of(FixSession, columns, {"point_id": point.pk}, ("session_id", list(by_session)))
    }
    touched: list[ingest.SessionRow] = []
    transitioned: set[str] = set()
    names: dict[str, str] = {}  # session id -> identity name to resolve
    fingerprints: dict[str, str] = {}
    for session_id, session_events in by_session.items():
        session_events.sort(key=lambda e: e.seq)
        row = existing.get(session_id)
        if row is not None:
            session_events = [e for e in session_events if e.boot != row.boot or e.seq > row.last_seq]
            if not session_events:
                continue  # a replay: everything here was applied before
        else:
            first = session_events[0]
            row = ingest.SessionRow(
                {
                    **_row_defaults(),
                    "point_id": point.pk,
                    "environment": point.environment,
                    "session_id": session_id,
                    "boot": first.boot,
                    "started_at": first.time,
                    "updated_at": now,
                    "contributions": [],
                }
            )
        state_changed = row.pk is None
        for event in session_events:
            moved, name, fingerprint = ingest.apply(row, event)
            state_changed |= moved
            if name:
                names[session_id] = name
            if fingerprint:
                fingerprints[session_id] = fingerprint
        row.updated_at = now
        touched.append(row)
        if state_changed:
            transitioned.add(session_id)
    if not touched:
        return [], set()
    for row in touched:
        if row.session_id in names:
            row.identity_id = identities.get(names[row.session_id])
    if fingerprints:
        found = storage.certificate_ids(set(fingerprints.values()))
        for row in touched:
            if row.session_id in fingerprints:
                row.certificate_id = found.get(fingerprints[row.session_id])
    for row in touched:
        row.pk = None  # upsert by (point, session_id): one statement for new and known sessions alike
    ids = storage.upsert(
        FixSession, ["point", "session_id", *SESSION_FIELDS], touched, ["point", "session_id"], SESSION_FIELDS
    )
    for row in touched:
        row.pk = ids[(row.point_id, row.session_id)]
    return touched, {row.pk for row in touched if row.session_id in transitioned}


def _log_decisions(point: EnforcementPoint, events: list[ingest.Event], identities: dict[str, int]) -> None:
    rows = []
    for event in events:
        fields = ingest.decision_fields(event)
        if fields is None:
            continue
        rows.append((event, fields))
    if not rows:
        return
    storage.insert_ignoring_conflicts(
        Decision,
        DECISION_FIELDS,
        [
            (
                event.boot,
                event.seq,
                event.session,
                event.time,
                fields["kind"],
                fields["outcome"],
                fields["identity_name"],
                identities.get(fields["identity_name"]),
                fields["sender_comp_id"],
                fields["msg_type"],
                fields["score"],
                fields["matched_rule"],
                fields["reason"],
                fields["bundle_version"],
                event.inputs(),
                ingest.flagged(event),
            )
            for event, fields in rows
        ],
        ["point", "boot", "seq"],
        {"point": point.pk, "environment": point.environment},
    )


# --- step-up for algorithms -------------------------------------------------------------------------------------

STEP_UP_NOTIFICATION = "step_up.requested"


def _step_up_requests(point: EnforcementPoint, events: list[ingest.Event], now) -> None:
    """``step_up_requested``: a pending request for the identity's sponsor (notified live after commit);
    a Logon decision for a session whose request is still pending ends it (the PEP stopped waiting)."""
    asked = [e for e in events if e.type == "step_up_requested"]
    decided = [e.session for e in events if e.type == "logon_decision" and e.session]
    if decided:
        storage.expire_pending_step_ups(point.pk, decided, now, "the enforcement point stopped waiting")
    if not asked:
        return
    names = {str(e.fields["identity"]) for e in asked}
    found = {
        i.user.get_username(): i
        for i in Identity.objects.filter(user__username__in=names, sponsor__isnull=False).select_related(
            "user", "sponsor"
        )
    }
    known = set(
        StepUpRequest.objects.filter(point_id=point.pk, session_id__in=[e.session for e in asked]).values_list(
            "session_id", flat=True
        )
    )
    created = []
    for event in asked:
        identity = found.get(str(event.fields["identity"]))
        if identity is None or event.session in known:
            continue  # a person, an unknown identity or a replay: nobody to ask, the PEP's window runs out
        f = event.fields
        try:
            expires = datetime.fromisoformat(f["expires"])
        except ValueError:
            expires = event.time
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        request = StepUpRequest.objects.create(
            point_id=point.pk,
            session_id=event.session,
            environment=point.environment,
            identity=identity,
            sponsor=identity.sponsor,
            identity_name=identity.user.get_username(),
            sender_comp_id=str(f.get("sender_comp_id") or "")[:64],
            source_ip=str(f.get("source_ip") or "")[:45],
            target=str(f.get("target") or "")[:64],
            score=f.get("score"),
            reason=str(f["reason"])[:500],
            requested_at=event.time,
            expires_at=min(expires, now + timedelta(seconds=300)),
        )
        known.add(event.session)
        created.append(request)
        audit.record(
            None,
            "sessions.step_up_requested",
            _step_up_target(request, point.name),
            {
                "point": point.name,
                "fix_session_id": request.session_id,
                "identity": request.identity_name,
                "sponsor": identity.sponsor.username,
                "score": request.score,
                "reason": request.reason,
                "expires_at": request.expires_at.isoformat(),
            },
        )
    for request in created:
        message = {"type": STEP_UP_NOTIFICATION, "request": selectors.step_up_item(request, point.name)}
        user_id = request.sponsor.user_id
        transaction.on_commit(lambda u=user_id, m=message: live.publish(user_group(u), m))


def _step_up_target(request: StepUpRequest, point_name: str) -> tuple[str, Any, str]:
    return ("fix_sessions.stepuprequest", request.pk, f"{request.identity_name} {request.session_id} at {point_name}")


def _expire_overdue(step_up: StepUpRequest) -> None:
    """A pending request past its expiry becomes expired (its own statement: it stays so when the decision that
    found it is refused)."""
    now = timezone.now()
    StepUpRequest.objects.filter(pk=step_up.pk, state=StepUpState.PENDING, expires_at__lte=now).update(
        state=StepUpState.EXPIRED, decided_at=now, decision_note="expired before a decision"
    )


def _decidable(actor: Any, step_up: StepUpRequest) -> StepUpRequest:
    """The request, locked, when ``actor`` may still decide it; SessionError naming why not otherwise."""
    locked = StepUpRequest.objects.select_for_update().select_related("sponsor__user", "point").get(pk=step_up.pk)
    if locked.sponsor.user_id != getattr(actor, "pk", None):
        raise SessionError(
            f"only {locked.identity_name}'s sponsor, {locked.sponsor.username}, may decide this step-up", "request"
        )
    if locked.state == StepUpState.PENDING and timezone.now() >= locked.expires_at:
        raise SessionError("this step-up is already expired", "request")
    if locked.state != StepUpState.PENDING:
        raise SessionError(f"this step-up is already {locked.get_state_display().lower()}", "request")
    return locked


def hardware_step_up_problem(request: HttpRequest) -> str | None:
    """Why the session does not hold a fresh hardware-factor step-up (None when it does)."""
    from accounts.models import Assurance, device_assurance
    from ztconsole.core.permissions import is_recently_verified

    device = getattr(request.user, "otp_device", None)
    if device is None or not is_recently_verified(request):
        return "approving needs a fresh step-up: enter a code from your hardware token"
    if device_assurance(device) != Assurance.HARDWARE:
        return (
            f"approving needs a step-up made with a hardware token (hardware OTP token, YubiKey or security key); "
            f"your last code came from {device.name}, a software factor. Step up again with your hardware token."
        )
    return None


def approve_step_up(actor: Any, step_up: StepUpRequest, *, request: HttpRequest) -> StepUpRequest:
    """The sponsor lets the held Logon through: only the sponsor, before expiry, with a fresh hardware step-up."""
    _expire_overdue(step_up)
    with transaction.atomic():
        return _approve(actor, step_up, request)


def _approve(actor: Any, step_up: StepUpRequest, request: HttpRequest) -> StepUpRequest:
    locked = _decidable(actor, step_up)
    problem = hardware_step_up_problem(request)
    if problem is not None:
        raise SessionError(problem, "otp_token")
    device = request.user.otp_device  # type: ignore[attr-defined]
    locked.state, locked.decided_by, locked.decided_at = StepUpState.APPROVED, actor, timezone.now()
    locked.decision_note = f"approved with {device.name}"[:200]
    locked.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])
    audit.record(
        actor,
        "sessions.step_up_approved",
        _step_up_target(locked, locked.point.name),
        {
            "point": locked.point.name,
            "fix_session_id": locked.session_id,
            "identity": locked.identity_name,
            "device": device.persistent_id,
            "assurance": "hardware",
        },
        request,
    )
    return locked


def refuse_step_up(actor: Any, step_up: StepUpRequest, *, request: HttpRequest | None = None) -> StepUpRequest:
    """The sponsor refuses the held Logon (the PEP sends a Logout): only the sponsor, before expiry."""
    _expire_overdue(step_up)
    with transaction.atomic():
        return _refuse(actor, step_up, request)


def _refuse(actor: Any, step_up: StepUpRequest, request: HttpRequest | None) -> StepUpRequest:
    locked = _decidable(actor, step_up)
    locked.state, locked.decided_by, locked.decided_at = StepUpState.REFUSED, actor, timezone.now()
    locked.decision_note = "refused by the sponsor"
    locked.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])
    audit.record(
        actor,
        "sessions.step_up_refused",
        _step_up_target(locked, locked.point.name),
        {"point": locked.point.name, "fix_session_id": locked.session_id, "identity": locked.identity_name},
        request,
    )
    return locked


# --- termination ----------------------------------------------------------------------------------------------


def terminate_session(
    actor: Any, session: FixSession, *, reason: str, request: HttpRequest | None = None
) -> TerminationRequest:
    """Ask the session's PEP to end it (a Logout with ``reason`` in 58). Audited now; sent after commit by the
    ``sessions.terminate`` task; the outcome is recorded when the PEP answers and the ingested logout and
    disconnect events show the session end."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise SessionError("say why the session is ended: the reason is sent to the counterparty", "reason")
    if len(reason) > 200:
        raise SessionError("the reason is at most 200 characters", "reason")
    with transaction.atomic():
        session = FixSession.objects.select_for_update().select_related("point").get(pk=session.pk)
        if session.state not in LIVE_STATES:
            raise SessionError(f"session {session.session_id} has already ended ({session.state})", "session")
        pending = TerminationRequest.objects.filter(session=session, state=TerminationState.PENDING).first()
        if pending is not None:
            if timezone.now() - pending.requested_at < timedelta(seconds=TERMINATION_ANSWER_SECONDS):
                raise SessionError(f"session {session.session_id} is already being terminated", "session")
            # Unanswered for too long (its task lost with the queue, say): this request takes over.
            TerminationRequest.objects.filter(pk=pending.pk, state=TerminationState.PENDING).update(
                state=TerminationState.FAILED,
                answered_at=timezone.now(),
                detail=f"no answer within {TERMINATION_ANSWER_SECONDS} s; asked again",
            )
        termination = TerminationRequest.objects.create(
            session=session,
            requested_by=actor if getattr(actor, "is_authenticated", False) else None,
            reason=reason,
            requested_at=timezone.now(),
        )
        audit.record(
            actor,
            "sessions.terminate_requested",
            ("fix_sessions.fixsession", session.pk, f"{session.session_id} at {session.point.name}"),
            {
                "reason": reason,
                "point": session.point.name,
                "fix_session_id": session.session_id,
                "identity": session.identity_name,
                "sender_comp_id": session.sender_comp_id,
            },
            request,
        )
        pk = termination.pk

        def send() -> None:
            from sessions.tasks import terminate

            terminate.delay(pk)

        transaction.on_commit(send)
    return termination


def deliver_termination(termination_id: int) -> str:
    """Call the PEP's control API for one pending termination and record its answer (the task's body).

    Raises ``ControlError`` when the PEP cannot be reached, so that the task retries; the last retry records
    the failure (``record_termination_failure``).
    """
    from policies.distribution.actions import control_client

    termination = TerminationRequest.objects.select_related("session__point").filter(pk=termination_id).first()
    if termination is None or termination.state != TerminationState.PENDING:
        return "done"
    point = termination.session.point
    TerminationRequest.objects.filter(pk=termination_id).update(attempts=termination.attempts + 1)
    body = json.dumps({"reason": termination.reason}).encode()
    answer = control_client().call(
        point.control_url,
        "POST",
        f"/sessions/{termination.session.session_id}/terminate",
        body,
        pinned=point.pinned_sha256,
    )
    if answer.http_status == 200 and answer.body.get("status") == "terminated":
        state = TerminationState.TERMINATED
    elif answer.http_status == 404:
        state = TerminationState.NOT_FOUND
    else:
        state = TerminationState.FAILED
    detail = f"HTTP {answer.http_status} {answer.body.get('status')} in {answer.latency_ms} ms"
    record_termination_outcome(termination_id, state, detail)
    return state


@transaction.atomic
def record_termination_outcome(termination_id: int, state: str, detail: str) -> None:
    """What the PEP answered (or why it could not be asked); audited."""
    updated = TerminationRequest.objects.filter(pk=termination_id, state=TerminationState.PENDING).update(
        state=state, answered_at=timezone.now(), detail=detail[:300]
    )
    if not updated:
        return
    termination = TerminationRequest.objects.select_related("session__point").get(pk=termination_id)
    session = termination.session
    audit.record(
        None,
        "sessions.terminate_answered",
        ("fix_sessions.fixsession", session.pk, f"{session.session_id} at {session.point.name}"),
        {"outcome": state, "detail": detail[:300], "request": termination_id, "point": session.point.name},
    )


def record_termination_failure(termination_id: int, exc: ControlError) -> None:
    record_termination_outcome(termination_id, TerminationState.FAILED, f"{type(exc).__name__}: {exc}")


# --- retention ------------------------------------------------------------------------------------------------


def prune(batch_size: int = 5000) -> dict[str, int]:
    """Delete ended sessions (with their decisions and termination requests) older than
    ``ZT_SESSION_RETENTION_DAYS`` and raw events older than ``ZT_SESSION_EVENT_RETENTION_DAYS``, in batches
    of ``batch_size`` rows per transaction, so that a large backlog never holds one long lock. Each batch writes
    its ``sessions.pruned`` audit event in its own transaction: no row goes without its record."""
    now = timezone.now()
    removed = {"sessions": 0, "decisions": 0, "events": 0, "step_ups": 0}
    session_cutoff = now - timedelta(days=settings.ZT_SESSION_RETENTION_DAYS)
    event_cutoff = now - timedelta(days=settings.ZT_SESSION_EVENT_RETENTION_DAYS)
    while True:
        with transaction.atomic():
            batch = list(
                FixSession.objects.filter(ended_at__lt=session_cutoff)
                .exclude(state__in=LIVE_STATES)
                .order_by("ended_at", "id")
                .values_list("pk", "point_id", "session_id")[:batch_size]
            )
            if not batch:
                break
            counts = {"sessions": 0, "decisions": 0, "events": 0}
            for point_id in {p for _, p, _ in batch}:
                ids = [s for _, p, s in batch if p == point_id]
                counts["decisions"] += Decision.objects.filter(point_id=point_id, session_id__in=ids).delete()[0]
            TerminationRequest.objects.filter(session_id__in=[pk for pk, _, _ in batch]).delete()
            counts["sessions"] = FixSession.objects.filter(pk__in=[pk for pk, _, _ in batch]).delete()[0]
            _record_pruned(counts, removed)
        if len(batch) < batch_size:
            break
    with transaction.atomic():
        # Step-up requests (decided or expired long ago) go with the sessions' retention, audited as a batch.
        step_ups = StepUpRequest.objects.filter(requested_at__lt=session_cutoff).delete()[0]
        if step_ups:
            _record_pruned({"sessions": 0, "decisions": 0, "events": 0, "step_ups": step_ups}, removed)
    while True:
        with transaction.atomic():
            ids = list(
                PepEvent.objects.filter(received_at__lt=event_cutoff)
                .order_by("received_at", "id")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            counts = {"sessions": 0, "decisions": 0, "events": PepEvent.objects.filter(pk__in=ids).delete()[0]}
            _record_pruned(counts, removed)
        if len(ids) < batch_size:
            break
    return removed


def _record_pruned(counts: dict[str, int], removed: dict[str, int]) -> None:
    """The audit event of one pruned batch, inside the batch's transaction; adds the batch to the totals."""
    audit.record(
        None,
        "sessions.pruned",
        None,
        {
            **counts,
            "session_retention_days": settings.ZT_SESSION_RETENTION_DAYS,
            "event_retention_days": settings.ZT_SESSION_EVENT_RETENTION_DAYS,
        },
    )
    for key, value in counts.items():
        removed[key] += value
