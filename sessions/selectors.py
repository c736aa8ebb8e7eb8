"""Read side of FIX sessions, shared by the pages, the API, the websocket and the dashboard."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from sessions.models import LIVE_STATES, Decision, FixSession, PepEvent, SessionState
from ztconsole.core.roles import VIEW_AUDIT, VIEW_IDENTITIES

LIVE_GROUP = "fix-sessions"
LIVE_MESSAGE = "fix_sessions.update"


def sees_everything(user: Any) -> bool:
    """Security officers, administrators and compliance officers see every session; others (traders) their own."""
    return user.has_perm(VIEW_AUDIT) or user.has_perm(VIEW_IDENTITIES)


def own_identity_ids(user: Any) -> list[int]:
    """The identities a user is or sponsors: a trader's window onto sessions and decisions."""
    from accounts.models import Identity

    return list(Identity.objects.filter(Q(user=user) | Q(sponsor__user=user)).values_list("pk", flat=True))


def visible_sessions(user: Any) -> QuerySet[FixSession]:
    queryset = FixSession.objects.select_related("point", "identity")
    if sees_everything(user):
        return queryset
    return queryset.filter(identity__in=own_identity_ids(user))


def visible_decisions(user: Any) -> QuerySet[Decision]:
    queryset = Decision.objects.select_related("point")
    if sees_everything(user):
        return queryset
    return queryset.filter(identity__in=own_identity_ids(user))


def counts(queryset: QuerySet[FixSession] | None = None) -> dict[str, int]:
    """Sessions per state, plus ``live`` (connecting, TLS established or logged on) and ``total``."""
    queryset = FixSession.objects.all() if queryset is None else queryset
    by_state = dict(queryset.order_by().values_list("state").annotate(n=Count("id")))
    result = {state: by_state.get(state, 0) for state in SessionState.values}
    result["live"] = sum(by_state.get(state, 0) for state in LIVE_STATES)
    result["total"] = sum(by_state.values())
    return result


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def row(session: FixSession, point_name: str | None = None, *, transition: bool = False) -> dict[str, Any]:
    """What the page's row and the websocket frame show of a session (``rev`` orders states of one session)."""
    return {
        "id": session.pk,
        "rev": session.last_seq,
        "transition": transition,
        "session_id": session.session_id,
        "point": point_name if point_name is not None else session.point.name,
        "environment": session.environment,
        "state": session.state,
        "identity": session.identity_name,
        "identity_id": session.identity_id,
        "sender_comp_id": session.sender_comp_id,
        "target_comp_id": session.target_comp_id,
        "source_ip": session.source_ip,
        "tls_version": session.tls_version,
        "cipher": session.cipher,
        "certificate_id": session.certificate_id,
        "outcome": session.outcome,
        "score": session.score,
        "matched_rule": session.matched_rule,
        "bundle_version": session.bundle_version,
        "client_seq": session.client_seq,
        "venue_seq": session.venue_seq,
        "heartbeat_interval": session.heartbeat_interval,
        "last_message_at": _iso(session.last_message_at),
        "started_at": _iso(session.started_at),
        "ended_at": _iso(session.ended_at),
        "end_reason": session.end_reason,
    }


def seconds_since_last_message(session: FixSession) -> float | None:
    if session.last_message_at is None or not session.live:
        return None
    return max(0.0, (timezone.now() - session.last_message_at).total_seconds())


def timeline(session: FixSession, limit: int = 500) -> list[dict[str, Any]]:
    """The session's raw events in order, parsed (what the PEP sent, minus the envelope)."""
    events = PepEvent.objects.filter(point_id=session.point_id, session_id=session.session_id).order_by("seq")
    out = []
    for event in events[:limit]:
        data = json.loads(event.line)
        for key in ("format", "pep", "environment", "boot", "seq", "time", "type", "session"):
            data.pop(key, None)
        out.append({"seq": event.seq, "time": event.time, "type": event.type, "fields": data})
    return out


def dashboard_summary(user: Any) -> dict[str, int]:
    return counts(visible_sessions(user))


def recorded_logon_decisions(*, user: Any, environment: str, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` Logon decisions of ``environment`` that the policy engine made and ``user`` may see,
    as the requests the PEP decided on: the supplier of ``ztconsole.core.hooks.recorded_decisions``.

    Refusals made before the engine (a revoked certificate, a CompID the certificate does not own, no identity in
    the certificate) have no score and are left out: no policy draft can change them.
    """
    from django.db.models import OuterRef, Subquery
    from django.urls import reverse

    from ztconsole.core.roles import VIEW_SESSIONS

    if not user.has_perm(VIEW_SESSIONS):
        return []
    session_pk = FixSession.objects.filter(point_id=OuterRef("point_id"), session_id=OuterRef("session_id")).values(
        "pk"
    )[:1]
    rows = (
        visible_decisions(user)
        .filter(environment=environment, kind="logon", score__isnull=False)
        .annotate(session_pk=Subquery(session_pk))
        .order_by("-time", "-id")[:limit]
    )
    out = []
    for decision in rows:
        inputs = decision.inputs or {}
        out.append(
            {
                "id": decision.pk,
                "time": decision.time,
                "pep": decision.point.name,
                "identity": decision.identity_name,
                "sender_comp_id": decision.sender_comp_id,
                "outcome": decision.outcome,
                "score": decision.score,
                "matched_rule": decision.matched_rule,
                "bundle_version": decision.bundle_version,
                "url": reverse("sessions:detail", args=[decision.session_pk]) if decision.session_pk else "",
                "request": {
                    "identity": decision.identity_name,
                    "target": inputs.get("target") or "",
                    "message_type": "A",
                    "device": inputs.get("device"),
                    "source_ip": inputs.get("source_ip"),
                    "certificate_fingerprint": inputs.get("certificate_fingerprint"),
                    "time": decision.time.timestamp(),
                },
            }
        )
    return out
