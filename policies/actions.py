"""Every state change of the policy: one verb per function, atomic, audited in the same transaction.

Draft edits validate what the bundle format and the engine need, so a bad value is refused here with the
field at fault (a form error or a 400), never at publication and never by every enforcement point.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Desk, Environment, Identity, IdentityStatus
from pep.attributes import ATTRIBUTES
from pep.builder import DEFAULT_BANDS, SEED_RISK_RULES
from pep.bundle import (
    BundleError,
    generate_private_key,
    key_id,
    private_key_pem,
    public_key_pem,
    sign_payload,
    validate_payload,
)
from pep.bundle import bundle_bytes as envelope_bytes
from policies import compiler
from policies.models import (
    SIGNING_KEY_CONTEXT,
    AccessRule,
    Bands,
    CountryRange,
    FlowProtocol,
    NetworkZone,
    PolicyVersion,
    PublicationState,
    RiskRule,
    SavedTestCase,
    Segment,
    SegmentFlow,
    SegmentResource,
    SigningKey,
    SubjectKind,
)
from ztconsole.core import audit, validators
from ztconsole.core.countries import is_country_code
from ztconsole.core.crypto import encrypt
from ztconsole.core.errors import ActionError
from ztconsole.core.models import AuditEvent
from ztconsole.core.roles import APPROVE_PUBLICATION, ROLES

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_MSG_TYPE = re.compile(r"^(\*|[0-9A-Za-z]{1,4})$")
_ADDRESS = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$")


class PolicyError(ActionError):
    """A refused policy action; the message names the problem, ``field`` the input at fault."""


# --- validation -------------------------------------------------------------------------------------


def _environment(value: str) -> str:
    if value not in Environment.values:
        raise PolicyError(f"unknown environment {value!r}: one of {', '.join(Environment.values)}", field="environment")
    return value


def _name(value: str, field: str = "name") -> str:
    value = (value or "").strip()
    if not _NAME.match(value):
        raise PolicyError("use 1-64 letters, digits, '-' or '_', starting with a letter or digit", field=field)
    return value


def _cidr(value: str, field: str) -> str:
    try:
        return validators.cidr(value)
    except ValueError as exc:
        raise PolicyError(str(exc), field=field) from None


def _country(value: str, field: str = "country") -> str:
    value = (value or "").strip().upper()
    if not is_country_code(value):
        raise PolicyError(f"{value!r} is not an ISO 3166 alpha-2 country code", field=field)
    return value


def _score(value: Any) -> int:
    try:
        score = int(value)
    except (TypeError, ValueError):
        raise PolicyError("the score must be an integer", field="score") from None
    if not -100 <= score <= 100:
        raise PolicyError("the score must be between -100 and 100", field="score")
    return score


def _attribute(attribute: str, condition: str) -> None:
    registered = ATTRIBUTES.get(attribute)
    if registered is None:
        raise PolicyError(f"unknown attribute {attribute!r}: one of {', '.join(sorted(ATTRIBUTES))}", field="attribute")
    if condition not in registered.conditions:
        raise PolicyError(
            f"unknown condition {condition!r} for {attribute}: one of {', '.join(registered.conditions)}",
            field="condition",
        )


def _message_types(values: list[str]) -> list[str]:
    cleaned = sorted({str(v).strip() for v in values or () if str(v).strip()})
    if not cleaned:
        raise PolicyError("name at least one FIX MsgType (e.g. R, S) or * for all", field="message_types")
    for value in cleaned:
        if not _MSG_TYPE.match(value):
            raise PolicyError(f"{value!r} is not a FIX MsgType (tag 35)", field="message_types")
    return cleaned


def _window(value: dict[str, Any] | None) -> dict[str, Any] | None:
    try:
        return validators.time_window(value)
    except ValueError as exc:
        raise PolicyError(str(exc), field="window") from None


def _resource_names_taken(environment: str, names: set[str], *, segment: Segment | None = None) -> set[str]:
    """Segment and resource ids share one namespace per environment (docs/bundle.md)."""
    others = SegmentResource.objects.filter(segment__environment=environment)
    segments = Segment.objects.filter(environment=environment)
    if segment is not None:
        others = others.exclude(segment=segment)
        segments = segments.exclude(pk=segment.pk)
    taken = set(others.values_list("name", flat=True)) | set(segments.values_list("name", flat=True))
    return names & taken


def _resources(environment: str, segment_name: str, resources: list[dict[str, Any]], segment=None) -> list[dict]:
    cleaned = []
    for item in resources or ():
        name = _name(item.get("name", ""), field="resources")
        address = (item.get("address") or "").strip()
        if address and not _ADDRESS.match(address):
            raise PolicyError(f"{address!r} is not host:port", field="resources")
        cleaned.append({"name": name, "address": address, "venue": (item.get("venue") or "").strip()})
    if not cleaned:
        raise PolicyError(
            "a segment needs at least one resource (service name, host:port, FIX venue)", field="resources"
        )
    names = [r["name"] for r in cleaned]
    if len(set(names)) != len(names) or segment_name in names:
        raise PolicyError("resource names must be unique and differ from the segment's name", field="resources")
    clash = _resource_names_taken(environment, set(names) | {segment_name}, segment=segment)
    if clash:
        raise PolicyError(f"already used in {environment}: {', '.join(sorted(clash))}", field="resources")
    return cleaned


def _save(obj, field: str = "name") -> None:
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        raise PolicyError(f"{getattr(obj, field, '')!r} already exists in {obj.environment}", field=field) from None


def _audit(actor, verb: str, obj, request, **details) -> None:
    audit.record(actor, f"policy.{verb}", obj, {"environment": obj.environment, **details}, request)


# --- seed ------------------------------------------------------------------------------------------------


@transaction.atomic
def seed_policy(actor: Any, environment: str, *, request: HttpRequest | None = None) -> bool:
    """Give an environment the shipped risk table and bands, once (an environment with bands is seeded)."""
    _environment(environment)
    if Bands.objects.filter(environment=environment).exists():
        return False
    Bands.objects.create(environment=environment, **DEFAULT_BANDS)
    for rule in SEED_RISK_RULES:
        RiskRule.objects.get_or_create(
            environment=environment,
            name=rule["id"],
            defaults={"attribute": rule["attribute"], "condition": rule["condition"], "score": rule["score"]},
        )
    audit.record(
        actor, "policy.seed", ("policy.environment", environment, environment), {"rules": len(SEED_RISK_RULES)}, request
    )
    return True


# --- segments and flows ----------------------------------------------------------------------------------


@transaction.atomic
def create_segment(
    actor: Any, *, environment: str, name: str, description: str = "", resources: list[dict], request=None
) -> Segment:
    """A new micro-segment with its resources (at least one)."""
    environment, name = _environment(environment), _name(name)
    if Segment.objects.filter(environment=environment, name=name).exists():
        raise PolicyError(f"{name!r} already exists in {environment}", field="name")
    cleaned = _resources(environment, name, resources)
    segment = Segment(environment=environment, name=name, description=description.strip())
    _save(segment)
    for item in cleaned:
        SegmentResource.objects.create(segment=segment, **item)
    _audit(actor, "segment_create", segment, request, resources=[r["name"] for r in cleaned])
    return segment


@transaction.atomic
def update_segment(actor: Any, segment: Segment, *, description: str, resources: list[dict], request=None) -> Segment:
    """Change a segment's description and resources; a resource an access rule targets cannot be removed."""
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    cleaned = {r["name"]: r for r in _resources(segment.environment, segment.name, resources, segment=segment)}
    existing = {r.name: r for r in segment.resources.all()}
    for name, resource in existing.items():
        if name not in cleaned:
            if resource.access_rules.exists():
                raise PolicyError(f"access rules target {name}: change them first", field="resources")
            resource.delete()
    for name, item in cleaned.items():
        SegmentResource.objects.update_or_create(segment=segment, name=name, defaults=item)
    segment.description = description.strip()
    segment.save()
    _audit(actor, "segment_update", segment, request, resources=sorted(cleaned))
    return segment


@transaction.atomic
def delete_segment(actor: Any, segment: Segment, *, request=None) -> None:
    """Delete a segment nothing targets (access rules would otherwise vanish silently)."""
    if (
        AccessRule.objects.filter(target_segment=segment).exists()
        or AccessRule.objects.filter(target_resource__segment=segment).exists()
    ):
        raise PolicyError(f"access rules target {segment.name} or its resources: delete them first", field=None)
    _audit(actor, "segment_delete", segment, request)
    segment.delete()


@transaction.atomic
def create_flow(
    actor: Any, *, source: Segment, destination: Segment, protocol: str, port: int, request=None
) -> SegmentFlow:
    """Allow a flow between two segments of the same environment."""
    if source.environment != destination.environment:
        raise PolicyError("both segments must be in the same environment", field="destination")
    if protocol not in FlowProtocol.values:
        raise PolicyError(f"unknown protocol {protocol!r}", field="protocol")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise PolicyError("the port must be 1-65535", field="port")
    flow = SegmentFlow.objects.create(
        environment=source.environment, source=source, destination=destination, protocol=protocol, port=port
    )
    _audit(actor, "flow_create", flow, request)
    return flow


@transaction.atomic
def delete_flow(actor: Any, flow: SegmentFlow, *, request=None) -> None:
    _audit(actor, "flow_delete", flow, request)
    flow.delete()


# --- network zones and the country table -----------------------------------------------------------------


def _cidrs(values: list[str]) -> list[str]:
    cleaned = sorted({_cidr(v, "cidrs") for v in values or () if str(v).strip()})
    if not cleaned:
        raise PolicyError("a network zone needs at least one CIDR", field="cidrs")
    return cleaned


@transaction.atomic
def create_network_zone(actor: Any, *, environment: str, name: str, cidrs: list[str], request=None) -> NetworkZone:
    """A known network: source IPs inside its CIDRs score as ``network: known``."""
    zone = NetworkZone(environment=_environment(environment), name=_name(name), cidrs=_cidrs(cidrs))
    _save(zone)
    _audit(actor, "zone_create", zone, request, cidrs=zone.cidrs)
    return zone


@transaction.atomic
def update_network_zone(actor: Any, zone: NetworkZone, *, cidrs: list[str], request=None) -> NetworkZone:
    zone.cidrs = _cidrs(cidrs)
    zone.save()
    _audit(actor, "zone_update", zone, request, cidrs=zone.cidrs)
    return zone


@transaction.atomic
def delete_network_zone(actor: Any, zone: NetworkZone, *, request=None) -> None:
    _audit(actor, "zone_delete", zone, request)
    zone.delete()


@transaction.atomic
def create_country_range(actor: Any, *, environment: str, cidr: str, country: str, request=None) -> CountryRange:
    """One CIDR -> country row (most specific wins at decision time)."""
    entry = CountryRange(environment=_environment(environment), cidr=_cidr(cidr, "cidr"), country=_country(country))
    _save(entry, field="cidr")
    _audit(actor, "country_range_create", entry, request)
    return entry


@transaction.atomic
def delete_country_range(actor: Any, entry: CountryRange, *, request=None) -> None:
    _audit(actor, "country_range_delete", entry, request)
    entry.delete()


# --- access rules ----------------------------------------------------------------------------------------


def _fill_access_rule(rule: AccessRule, data: dict[str, Any]) -> None:
    kind = data.get("subject_kind")
    rule.subject_identity = rule.subject_desk = None
    rule.subject_role = ""
    if kind == SubjectKind.IDENTITY:
        identity = data.get("subject_identity")
        if not isinstance(identity, Identity):
            raise PolicyError("choose the identity this rule grants", field="subject_identity")
        if identity.status == IdentityStatus.REVOKED:
            raise PolicyError(f"{identity} is revoked: a rule cannot grant it anything", field="subject_identity")
        if identity.environment and identity.environment != rule.environment:
            raise PolicyError(f"{identity} belongs to {identity.environment}", field="subject_identity")
        rule.subject_identity = identity
    elif kind == SubjectKind.DESK:
        if not isinstance(data.get("subject_desk"), Desk):
            raise PolicyError("choose the desk this rule grants", field="subject_desk")
        rule.subject_desk = data["subject_desk"]
    elif kind == SubjectKind.ROLE:
        if data.get("subject_role") not in ROLES:
            raise PolicyError(f"the role must be one of {', '.join(ROLES)}", field="subject_role")
        rule.subject_role = data["subject_role"]
    else:
        raise PolicyError("the subject is an identity, a desk or a role", field="subject_kind")
    rule.subject_kind = kind
    segment, resource = data.get("target_segment"), data.get("target_resource")
    if (segment is None) == (resource is None):
        raise PolicyError("target exactly one segment or one resource", field="target_segment")
    target_env = segment.environment if segment is not None else resource.segment.environment
    if target_env != rule.environment:
        raise PolicyError(f"the target is in {target_env}, the rule in {rule.environment}", field="target_segment")
    rule.target_segment, rule.target_resource = segment, resource
    rule.message_types = _message_types(data.get("message_types") or [])
    rule.window = _window(data.get("window"))
    rule.expires_at = data.get("expires_at")


def _rule_details(rule: AccessRule) -> dict[str, Any]:
    return compiler.access_rule_entry(rule)


@transaction.atomic
def create_access_rule(actor: Any, *, environment: str, name: str, request=None, **data: Any) -> AccessRule:
    """Grant a subject FIX message types on a target (default deny everywhere else)."""
    rule = AccessRule(environment=_environment(environment), name=_name(name))
    _fill_access_rule(rule, data)
    _save(rule)
    _audit(actor, "access_rule_create", rule, request, rule=_rule_details(rule))
    return rule


@transaction.atomic
def update_access_rule(actor: Any, rule: AccessRule, *, request=None, **data: Any) -> AccessRule:
    before = _rule_details(rule)
    _fill_access_rule(rule, data)
    rule.save()
    _audit(actor, "access_rule_update", rule, request, before=before, after=_rule_details(rule))
    return rule


@transaction.atomic
def delete_access_rule(actor: Any, rule: AccessRule, *, request=None) -> None:
    _audit(actor, "access_rule_delete", rule, request, rule=_rule_details(rule))
    rule.delete()


# --- risk rules and bands --------------------------------------------------------------------------------


@transaction.atomic
def create_risk_rule(
    actor: Any, *, environment: str, name: str, attribute: str, condition: str, score: int, enabled=True, request=None
) -> RiskRule:
    """Add ``score`` when ``attribute`` evaluates to ``condition``."""
    _attribute(attribute, condition)
    rule = RiskRule(
        environment=_environment(environment),
        name=_name(name),
        attribute=attribute,
        condition=condition,
        score=_score(score),
        enabled=bool(enabled),
    )
    _save(rule)
    _audit(actor, "risk_rule_create", rule, request, attribute=attribute, condition=condition, score=rule.score)
    return rule


@transaction.atomic
def update_risk_rule(
    actor: Any, rule: RiskRule, *, attribute: str, condition: str, score: int, enabled: bool, request=None
) -> RiskRule:
    _attribute(attribute, condition)
    before = {"attribute": rule.attribute, "condition": rule.condition, "score": rule.score, "enabled": rule.enabled}
    rule.attribute, rule.condition, rule.score, rule.enabled = attribute, condition, _score(score), bool(enabled)
    rule.save()
    after = {"attribute": attribute, "condition": condition, "score": rule.score, "enabled": rule.enabled}
    _audit(actor, "risk_rule_update", rule, request, before=before, after=after)
    return rule


@transaction.atomic
def delete_risk_rule(actor: Any, rule: RiskRule, *, request=None) -> None:
    _audit(actor, "risk_rule_delete", rule, request)
    rule.delete()


@transaction.atomic
def update_bands(actor: Any, *, environment: str, step_up: int, deny: int, request=None) -> Bands:
    """Allow below ``step_up``, step-up below ``deny``, deny from ``deny`` on; the bands must not invert."""
    _environment(environment)
    for field, value in (("step_up", step_up), ("deny", deny)):
        if not isinstance(value, int) or not 1 <= value <= 1000:
            raise PolicyError("a threshold is an integer from 1 to 1000", field=field)
    if step_up > deny:
        raise PolicyError(
            "the step-up threshold must not exceed the deny threshold (bands would overlap)", field="deny"
        )
    seed_policy(actor, environment, request=request)
    bands = Bands.objects.select_for_update().get(environment=environment)
    before = {"step_up": bands.step_up, "deny": bands.deny}
    bands.step_up, bands.deny = step_up, deny
    bands.save()
    _audit(actor, "bands_update", bands, request, before=before, after={"step_up": step_up, "deny": deny})
    return bands


# --- saved test cases ------------------------------------------------------------------------------------


@transaction.atomic
def create_test_case(
    actor: Any, *, environment: str, name: str, request_data: dict[str, Any], expected_outcome: str, request=None
) -> SavedTestCase:
    """A decision request and its expected outcome, replayed by every publication's impact preview."""
    from pep.engine import DecisionRequest

    if expected_outcome not in ("allow", "step_up", "deny"):
        raise PolicyError("expected outcome is allow, step_up or deny", field="expected_outcome")
    try:
        DecisionRequest.from_dict(request_data)
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyError(f"not a decision request: {exc}", field="request") from None
    name = (name or "").strip()
    if not name:
        raise PolicyError("name the test case", field="name")
    case = SavedTestCase(
        environment=_environment(environment), name=name[:100], request=request_data, expected_outcome=expected_outcome
    )
    _save(case)
    _audit(actor, "test_case_create", case, request)
    return case


@transaction.atomic
def delete_test_case(actor: Any, case: SavedTestCase, *, request=None) -> None:
    _audit(actor, "test_case_delete", case, request)
    case.delete()


# --- signing key -----------------------------------------------------------------------------------------


@transaction.atomic
def init_signing_key(actor: Any, *, rotate: bool = False, request=None) -> SigningKey:
    """Generate the Ed25519 signing key (encrypted at rest); with ``rotate``, replace the active one."""
    current = SigningKey.objects.select_for_update().filter(active=True).first()
    if current is not None and not rotate:
        raise PolicyError(f"a signing key is already active ({current.kid}): rotate it instead", field=None)
    if current is not None:
        current.active = False
        current.save(update_fields=["active"])
    private = generate_private_key()
    key = SigningKey.objects.create(
        kid=key_id(private.public_key()),
        public_key_pem=public_key_pem(private.public_key()).decode(),
        private_key=encrypt(private_key_pem(private), context=SIGNING_KEY_CONTEXT),
    )
    audit.record(
        actor, "policy.signing_key_create", key, {"kid": key.kid, "rotated": current.kid if current else None}, request
    )
    return key


def active_signing_key() -> SigningKey:
    key = SigningKey.objects.filter(active=True).first()
    if key is None:
        raise PolicyError("no signing key yet: run `manage.py init_signing_key` first", field=None)
    return key


# --- publication -----------------------------------------------------------------------------------------


def revocation_sequence(environment: str) -> int:
    """The last revocation delta numbered in ``environment`` (0 before any): a bundle includes up to it."""
    from policies.distribution.models import RevocationDelta

    latest = RevocationDelta.objects.filter(environment=environment).order_by("-sequence").first()
    return latest.sequence if latest else 0


def latest_approved(environment: str) -> PolicyVersion | None:
    return PolicyVersion.objects.filter(environment=environment, state=PublicationState.APPROVED).first()


def sign(payload: dict[str, Any], key: SigningKey) -> bytes:
    """Validate then sign a payload: a malformed policy is caught here, not refused by every PEP."""
    try:
        validate_payload(payload)
    except BundleError as exc:
        raise PolicyError(f"the draft does not compile: {exc}", field=None) from None
    return envelope_bytes(sign_payload(payload, key.load_private_key()))


def _ttl() -> timedelta:
    return timedelta(hours=settings.ZT_PUBLICATION_TTL_HOURS)


def _create_version(actor: Any, environment: str, payload_of, *, rollback_of: int | None, request) -> PolicyVersion:
    key = active_signing_key()
    # Serialise publication requests per environment: lock the existing versions, then number the new one.
    existing = list(PolicyVersion.objects.select_for_update().filter(environment=environment).order_by("version"))
    version = existing[-1].version + 1 if existing else 1
    now = timezone.now().replace(microsecond=0)
    payload = payload_of(version, compiler.utc_text(now))
    raw = sign(payload, key)
    previous = latest_approved(environment)
    superseded = PolicyVersion.objects.filter(environment=environment, state=PublicationState.PENDING).update(
        state=PublicationState.SUPERSEDED, decided_at=now
    )
    try:
        with transaction.atomic():
            pv = PolicyVersion.objects.create(
                environment=environment,
                version=version,
                payload=compiler.payload_bytes(payload).decode(),
                sha256=PolicyVersion.digest(compiler.payload_bytes(payload)),
                bundle=raw.decode(),
                kid=key.kid,
                author=actor if getattr(actor, "is_authenticated", False) else None,
                created_at=now,
                diff=compiler.diff_payloads(json.loads(previous.payload) if previous else None, payload),
                rollback_of=rollback_of,
                expires_at=now + _ttl(),
            )
    except IntegrityError:
        # The first version of an environment has no row to lock: a concurrent request took the number.
        raise PolicyError(
            f"another {environment} publication was requested at the same moment: retry", field=None
        ) from None
    details = {"environment": environment, "version": version, "sha256": pv.sha256, "diff": pv.diff}
    if rollback_of is not None:
        details["rollback_of"] = rollback_of
    if superseded:
        details["superseded_pending"] = superseded
    audit.record(actor, "policy.rollback_request" if rollback_of else "policy.publish_request", pv, details, request)
    return pv


@transaction.atomic
def request_publication(actor: Any, *, environment: str, request=None) -> PolicyVersion:
    """Compile the draft into a signed, pending version; a second officer must approve it."""
    _environment(environment)
    seed_policy(actor, environment, request=request)
    return _create_version(
        actor,
        environment,
        lambda version, issued_at: compiler.compile_payload(
            environment, version=version, issued_at=issued_at, revocation_sequence=revocation_sequence(environment)
        ),
        rollback_of=None,
        request=request,
    )


@transaction.atomic
def rollback_to(actor: Any, *, environment: str, version: int, request=None) -> PolicyVersion:
    """Republish an earlier approved version's content as a new, higher, pending version (same approval)."""
    earlier = PolicyVersion.objects.filter(
        environment=_environment(environment), version=version, state=PublicationState.APPROVED
    ).first()
    if earlier is None:
        raise PolicyError(f"{environment} has no approved version {version} to roll back to", field="version")
    content = json.loads(earlier.payload)

    def payload_of(new_version: int, issued_at: str) -> dict[str, Any]:
        payload = {**content, "version": new_version, "issued_at": issued_at}
        if "revocations" in content:
            # Revocations are never rolled back: the earlier content, today's revocations.
            payload["revocations"] = compiler.revocations(environment, revocation_sequence(environment))
        return payload

    return _create_version(actor, environment, payload_of, rollback_of=version, request=request)


_DRAFT_KINDS = ("segment", "flow", "access_rule", "risk_rule", "zone", "country_range", "test_case")
DRAFT_EDIT_ACTIONS = (
    *(f"policy.{kind}_{verb}" for kind in _DRAFT_KINDS for verb in ("create", "update", "delete")),
    "policy.bands_update",
)


def _edited_the_draft(actor: Any, publication: PolicyVersion) -> bool:
    """Did ``actor`` change this environment's draft after the previous approved version was compiled?

    Those changes are what ``publication`` publishes: their author is a maker too, not a checker. The
    window is bounded by audit sequence numbers (the requests' own events), not by clock times.
    """
    requests = AuditEvent.objects.filter(
        action__in=("policy.publish_request", "policy.rollback_request"),
        details__environment=publication.environment,
    )
    upper = requests.filter(details__version=publication.version).values_list("seq", flat=True).first()
    previous = (
        PolicyVersion.objects.filter(
            environment=publication.environment, state=PublicationState.APPROVED, version__lt=publication.version
        )
        .order_by("-version")
        .first()
    )
    lower = requests.filter(details__version=previous.version).values_list("seq", flat=True).first() if previous else 0
    edits = AuditEvent.objects.filter(
        action__in=DRAFT_EDIT_ACTIONS,
        actor_id=actor.pk,
        details__environment=publication.environment,
        seq__gt=lower or 0,
    )
    if upper is not None:
        edits = edits.filter(seq__lt=upper)
    return edits.exists()


def _lock_pending(publication: PolicyVersion) -> PolicyVersion:
    locked = PolicyVersion.objects.select_for_update().get(pk=publication.pk)
    if locked.state != PublicationState.PENDING:
        raise PolicyError(f"version {locked.version} is {locked.get_state_display().lower()}, not pending", field=None)
    if locked.expires_at <= timezone.now():
        raise PolicyError(f"version {locked.version}'s request has expired", field=None)
    return locked


@transaction.atomic
def approve_publication(actor: Any, publication: PolicyVersion, *, request=None) -> PolicyVersion:
    """Four eyes: a Security Officer or Administrator other than the author approves (views require step-up)."""
    if not actor.has_perm(APPROVE_PUBLICATION):
        raise PolicyError("only a Security Officer or an Administrator may approve a publication", field=None)
    locked = _lock_pending(publication)
    if locked.author_id is not None and locked.author_id == actor.pk:
        raise PolicyError("you requested this publication: a second person must approve it", field=None)
    if locked.rollback_of is None and _edited_the_draft(actor, locked):
        raise PolicyError(
            "you edited the draft this version publishes: someone who did not must approve it", field=None
        )
    now = timezone.now()
    locked.state, locked.approver, locked.approved_at, locked.decided_at = PublicationState.APPROVED, actor, now, now
    locked.save(update_fields=["state", "approver", "approved_at", "decided_at"])
    audit.record(
        actor,
        "policy.publish_approve",
        locked,
        {"environment": locked.environment, "version": locked.version, "sha256": locked.sha256},
        request,
    )
    # The outbox: one delivery per active enforcement point, in this transaction; sent after commit.
    from policies.distribution.actions import enqueue_publication

    enqueue_publication(locked)
    return locked


@transaction.atomic
def reject_publication(actor: Any, publication: PolicyVersion, *, reason: str, request=None) -> PolicyVersion:
    """Refuse a pending publication with a reason (the author may withdraw their own the same way)."""
    reason = (reason or "").strip()
    if not reason:
        raise PolicyError("give a reason", field="reason")
    if not actor.has_perm(APPROVE_PUBLICATION) and publication.author_id != actor.pk:
        raise PolicyError("only an approver or the author may reject a publication", field=None)
    locked = _lock_pending(publication)
    locked.state, locked.rejection_reason, locked.decided_at = PublicationState.REJECTED, reason[:500], timezone.now()
    locked.save(update_fields=["state", "rejection_reason", "decided_at"])
    audit.record(
        actor,
        "policy.publish_reject",
        locked,
        {"environment": locked.environment, "version": locked.version, "reason": locked.rejection_reason},
        request,
    )
    return locked


def expire_publications() -> int:
    """Mark pending requests past their expiry as expired (the beat task calls this); returns how many."""
    count = 0
    now = timezone.now()
    for pk in PolicyVersion.objects.filter(state=PublicationState.PENDING, expires_at__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            # Conditional update: a concurrent approval or rejection wins, and we count only our own changes.
            if PolicyVersion.objects.filter(pk=pk, state=PublicationState.PENDING).update(
                state=PublicationState.EXPIRED, decided_at=now
            ):
                pv = PolicyVersion.objects.get(pk=pk)
                audit.record(None, "policy.publish_expire", pv, {"environment": pv.environment, "version": pv.version})
                count += 1
    return count
