"""Events as a PEP writes them (pep/gateway/events.py's envelope), and posting them as a PEP does."""

from __future__ import annotations

import itertools
import json
import secrets
from datetime import UTC, datetime, timedelta

from django.test import Client

BASE = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


class Feed:
    """One PEP process run: ``boot`` and a gap-free ``seq``, like pep.gateway.events.EventSink.emit."""

    def __init__(self, pep: str, environment: str = "prod", boot: str | None = None) -> None:
        self.pep, self.environment = pep, environment
        self.boot = boot or secrets.token_hex(6)
        self.seq = itertools.count(1)
        self.clock = itertools.count(0)

    def event(self, kind: str, **fields) -> dict:
        seq = next(self.seq)
        when = BASE + timedelta(milliseconds=next(self.clock))
        return {
            **fields,
            "format": "ztc-pep-events/1",
            "pep": self.pep,
            "environment": self.environment,
            "boot": self.boot,
            "seq": seq,
            "time": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "type": kind,
        }

    def logged_on(self, session: str, *, identity: str = "algo-alpha", comp: str = "ALPHA1", fingerprint=None) -> list:
        return [
            self.event("connection", session=session, listener="rfq", source_ip="127.0.0.1", source_port=50000),
            self.event(
                "tls_handshake",
                session=session,
                tls_version="TLSv1.3",
                cipher="TLS_AES_256_GCM_SHA384",
                peer_fingerprint=fingerprint or "ab" * 32,
                peer_subject="CN=algo",
                peer_identity_uri=f"urn:ztconsole:identity:{identity}",
            ),
            self.logon(session, identity=identity, comp=comp),
            self.event("session_live", session=session, venue_seq=1, identity=identity),
        ]

    def logon(
        self,
        session: str,
        *,
        identity: str = "algo-alpha",
        comp: str = "ALPHA1",
        outcome: str = "allow",
        at: datetime | None = None,
        **overrides,
    ):
        """A ``logon_decision``; ``overrides`` replace its fields (reason, contributions, matched_rule, target…),
        ``at`` its time."""
        event = self._logon(session, identity=identity, comp=comp, outcome=outcome)
        event.update(overrides)
        if at is not None:
            event["time"] = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return event

    def _logon(self, session: str, *, identity: str, comp: str, outcome: str):
        return self.event(
            "logon_decision",
            session=session,
            listener="rfq",
            target="rfq-venue",
            identity=identity,
            device=None,
            certificate_fingerprint="ab" * 32,
            source_ip="127.0.0.1",
            sender_comp_id=comp,
            target_comp_id="VENUE",
            begin_string="FIX.4.4",
            msg_seq_num=1,
            heart_bt_int="30",
            reset_seq_num=True,
            username=None,
            outcome=outcome,
            score=15 if outcome == "allow" else 45,
            contributions=[{"rule_id": "rr-ip", "attribute": "network", "condition": "unknown", "score": 15}],
            matched_rule="ar-rfq" if outcome == "allow" else None,
            bundle_version=3,
            reason="allowed" if outcome == "allow" else "score 45 is in the deny band",
        )


def session_id() -> str:
    return secrets.token_hex(8)


def ndjson(events) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def post_events(token: str, events, client: Client | None = None, content_type: str = "application/x-ndjson"):
    body = events if isinstance(events, bytes) else ndjson(events)
    return (client or Client()).post(
        "/api/v1/enforcement/events", data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def matrix_session(personas, *, decision: bool = False) -> int:
    """A live session (and its Logon decision) of the trader's own identity, for the authorization matrix."""
    from django.utils import timezone

    from sessions.models import Decision, FixSession
    from tests.distribution.helpers import matrix_point

    point_id = matrix_point(personas)
    identity = personas["trader"].user.identity
    now = timezone.now()
    session = FixSession.objects.create(
        point_id=point_id,
        environment="prod",
        session_id="00112233aabbccdd",
        boot="0123456789ab",
        last_seq=4,
        state="logged_on",
        identity=identity,
        identity_name=personas["trader"].username,
        started_at=now,
        updated_at=now,
    )
    if not decision:
        return session.pk
    return Decision.objects.create(
        point_id=point_id,
        boot="0123456789ab",
        seq=3,
        environment="prod",
        session_id=session.session_id,
        time=now,
        kind="logon",
        outcome="allow",
        identity=identity,
        identity_name=session.identity_name,
        inputs={},
    ).pk


def matrix_step_up(personas) -> int:
    """A pending step-up request of an algorithm the trader sponsors, for the authorization matrix."""
    from tests.distribution.helpers import matrix_point

    return pending_step_up(matrix_point(personas), personas["trader"].user.identity, name="algo-matrix").pk


def pending_step_up(point_id: int, sponsor, *, name: str, seconds: float = 60, session_id: str = "a1b2c3d4e5f60718"):
    """A held Logon of a new algorithm sponsored by ``sponsor``, waiting ``seconds`` more."""
    from django.utils import timezone

    from accounts.actions import create_non_person_identity
    from sessions.models import StepUpRequest

    algo = create_non_person_identity(
        None,
        name=name,
        kind="algorithm",
        display_name=name.title(),
        sponsor=sponsor,
        environment="prod",
        sender_comp_ids=[name.replace("-", "").upper()[:20]],
    )
    now = timezone.now()
    return StepUpRequest.objects.create(
        point_id=point_id,
        session_id=session_id,
        environment="prod",
        identity=algo,
        sponsor=sponsor,
        identity_name=name,
        reason="step-up required: score 30 in the step-up band",
        score=30,
        requested_at=now,
        expires_at=now + timedelta(seconds=seconds),
    )
