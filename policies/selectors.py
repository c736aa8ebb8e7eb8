"""Read-side queries shared by pages, the API and commands: the draft as a payload or a signed bundle, the
published version, the simulator and the impact preview (both replay requests through ``pep.engine``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pep.bundle import BundleError
from pep.engine import Decision, DecisionRequest, Engine
from policies import actions, compiler
from policies.models import PolicyVersion, SavedTestCase


def next_version(environment: str) -> int:
    latest = PolicyVersion.objects.filter(environment=environment).order_by("-version").first()
    return latest.version + 1 if latest else 1


def draft_payload(environment: str) -> dict[str, Any]:
    """The draft, numbered one above the latest version and issued at its last change (deterministic)."""
    return compiler.compile_payload(
        environment, version=next_version(environment), issued_at=compiler.draft_issued_at(environment)
    )


def signed_draft(environment: str) -> bytes:
    """The draft's signed bundle bytes (what ``compile_policy --draft`` writes)."""
    actions.seed_policy(None, environment)
    return actions.sign(draft_payload(environment), actions.active_signing_key())


def draft_engine(environment: str) -> Engine:
    try:
        return Engine.from_payload(draft_payload(environment))
    except BundleError as exc:
        raise actions.PolicyError(f"the draft does not compile: {exc}", field=None) from None


def published_engine(environment: str, *, before: PolicyVersion | None = None) -> Engine | None:
    """The version in force (approved last), or the one in force before ``before`` was requested."""
    approved = PolicyVersion.objects.filter(environment=environment, state="approved")
    if before is not None:
        approved = approved.exclude(pk=before.pk).filter(version__lt=before.version)
    latest = approved.order_by("-version").first()
    return Engine.from_payload(json.loads(latest.payload), validate=False) if latest else None


def decide(engine: Engine | None, request: DecisionRequest) -> Decision | None:
    return engine.decide(request) if engine is not None else None


def simulate(environment: str, request: DecisionRequest) -> dict[str, Decision | None]:
    """The same request through the draft and through the published version, side by side."""
    return {
        "draft": decide(draft_engine(environment), request),
        "published": decide(published_engine(environment), request),
    }


@dataclass
class ImpactRow:
    case: SavedTestCase
    current: Decision | None
    candidate: Decision | None
    error: str = ""

    @property
    def changed(self) -> bool:
        before = self.current.outcome if self.current else None
        after = self.candidate.outcome if self.candidate else None
        return before != after

    @property
    def as_expected(self) -> bool:
        return self.candidate is not None and self.candidate.outcome == self.case.expected_outcome


def impact_preview(publication: PolicyVersion) -> list[ImpactRow]:
    """The environment's saved test cases replayed against the version in force and against ``publication``."""
    candidate = Engine.from_payload(json.loads(publication.payload), validate=False)
    current = published_engine(publication.environment, before=publication)
    rows = []
    for case in SavedTestCase.objects.filter(environment=publication.environment):
        try:
            request = DecisionRequest.from_dict(case.request)
        except (TypeError, ValueError) as exc:
            rows.append(ImpactRow(case, None, None, error=str(exc)))
            continue
        rows.append(ImpactRow(case, decide(current, request), candidate.decide(request)))
    return rows


# The newest recorded Logon decisions the simulator replays against a draft: the engine decides each in
# microseconds, so a thousand keep the page well inside its budget while covering a busy hour of Logons.
REPLAY_LIMIT = 1000


@dataclass
class ReplayedDecision:
    """A recorded Logon decision (a dict from ``hooks.recorded_decisions``) and the replayed answer to it."""

    record: dict[str, Any]
    replayed: Decision | None
    error: str = ""

    @property
    def changed(self) -> bool:
        return self.replayed is None or self.replayed.outcome != self.record["outcome"]


@dataclass
class RecordedImpact:
    environment: str
    replayed: int
    changed: list[ReplayedDecision]
    limit: int


def replay_request(record: dict[str, Any], bindings: dict[str, dict[str, Any]]) -> DecisionRequest:
    """The request the PEP would build for this Logon under the draft: as pep/gateway/server.py ``evaluate`` does,
    the draft's binding of the certificate names the identity, the device and the authentication; without one, the
    identity the certificate named (recorded) and no MFA."""
    data = dict(record["request"])
    binding = bindings.get(data.get("certificate_fingerprint") or "")
    if binding is not None:
        data["identity"] = binding.get("identity") or data["identity"]
        data["device"] = binding.get("device")
        data["authentication"] = binding.get("authentication") or "none"
    else:
        data["authentication"] = "none"
    return DecisionRequest.from_dict(data)


def replay_recorded_decisions(
    environment: str, user: Any, *, payload: dict[str, Any] | None = None, limit: int = REPLAY_LIMIT
) -> RecordedImpact:
    """The newest recorded Logon decisions ``user`` may see, replayed against the draft of ``environment`` (or
    against ``payload``, a publication's: its impact preview).

    The records come from a higher layer (sessions/) through ``ztconsole.core.hooks.recorded_decisions``: policies
    never imports sessions. A decision changes when the replayed outcome differs from the one recorded.
    """
    from ztconsole.core import hooks

    if payload is None:
        payload = draft_payload(environment)
        try:
            engine = Engine.from_payload(payload)
        except BundleError as exc:
            raise actions.PolicyError(f"the draft does not compile: {exc}", field=None) from None
    else:
        engine = Engine.from_payload(payload, validate=False)
    bindings = {b["sha256"]: b for b in payload.get("certificates") or ()}
    records = hooks.recorded_decisions.collect(user=user, environment=environment, limit=limit)
    changed = []
    for record in records:
        try:
            replayed = ReplayedDecision(record, engine.decide(replay_request(record, bindings)))
        except (TypeError, ValueError) as exc:
            replayed = ReplayedDecision(record, None, error=str(exc))
        if replayed.changed:
            changed.append(replayed)
    return RecordedImpact(environment, len(records), changed, limit)


def dashboard_summary() -> dict[str, Any]:
    """The dashboard's Policy tile: the version in force per environment and how many requests wait."""
    published = []
    for environment in ("prod", "uat", "dev"):
        latest = actions.latest_approved(environment)
        if latest is not None:
            published.append(latest)
    pending = PolicyVersion.objects.filter(state="pending").count()
    return {"published": published, "pending": pending}
