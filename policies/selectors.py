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


def dashboard_summary() -> dict[str, Any]:
    """The dashboard's Policy tile: the version in force per environment and how many requests wait."""
    published = []
    for environment in ("prod", "uat", "dev"):
        latest = actions.latest_approved(environment)
        if latest is not None:
            published.append(latest)
    pending = PolicyVersion.objects.filter(state="pending").count()
    return {"published": published, "pending": pending}
