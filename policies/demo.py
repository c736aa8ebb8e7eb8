"""Demo policy for `make demo`: a signing key and a small draft the personas can edit and publish at once.

Loaded once per environment (an environment that already has segments is left alone, so edits made in the
demo survive a restart). The signing key is created when none is active, and replaced when the active one was
sealed with a key this process does not hold (a key made by a command run without the demo's key file).
"""

from __future__ import annotations

from django.db import transaction

from accounts.models import Identity
from policies import actions
from policies.models import AccessRule, Segment, SigningKey
from ztconsole.core.crypto import SecretDecryptionError
from ztconsole.core.roles import TRADER

# Logon (A) is a permission like any message type (docs/pep.md): without it nobody logs on at all.
RFQ_MESSAGE_TYPES = ["A", "R", "S", "AI", "Z", "b", "8", "D"]  # + quote request/quote/status/cancel/ack, exec, order
MARKET_DATA_MESSAGE_TYPES = ["A", "V", "W", "X", "Y"]  # + market data request, snapshot, incremental, reject


#: The demo's rules as earlier demos created them, without Logon (A), under which a PEP refuses every Logon.
_RULES_BEFORE_LOGON = {
    "traders-rfq": ["R", "S", "AI", "Z", "b", "8", "D"],
    "traders-market-data": ["V", "W", "X", "Y"],
    "algo-rfq-demo-quotes": ["R", "S", "AI"],
}


def _grant_logon_to_earlier_demo_rules(environment: str) -> list[str]:
    """A demo database from before Logon was a permission: its demo rules (exactly as made then) gain A."""
    lines = []
    for rule in AccessRule.objects.filter(environment=environment, name__in=_RULES_BEFORE_LOGON):
        if sorted(rule.message_types) != sorted(_RULES_BEFORE_LOGON[rule.name]):
            continue  # changed since: someone's edit, left alone
        actions.update_access_rule(
            None,
            rule,
            subject_kind=rule.subject_kind,
            subject_identity=rule.subject_identity,
            subject_desk=rule.subject_desk,
            subject_role=rule.subject_role,
            target_segment=rule.target_segment,
            target_resource=rule.target_resource,
            message_types=["A", *rule.message_types],
            window=rule.window,
            expires_at=rule.expires_at,
        )
        lines.append(f"Access rule {rule.name} ({environment}) now grants Logon (A), as the demo's rules do")
    return lines


def ensure_signing_key() -> str:
    key = SigningKey.objects.filter(active=True).first()
    if key is None:
        key = actions.init_signing_key(None)
        return f"Policy signing key created: {key.kid}"
    try:
        key.load_private_key()
    except SecretDecryptionError as exc:
        new = actions.init_signing_key(None, rotate=True)
        return (
            f"Policy signing key {key.kid} could not be opened with the demo's keys (key id {exc.key_id!r}); "
            f"replaced by {new.kid}"
        )
    return ""


def _environment_policy(environment: str, *, suffix: str) -> list[str]:
    actions.seed_policy(None, environment)
    if Segment.objects.filter(environment=environment).exists():
        return _grant_logon_to_earlier_demo_rules(environment)
    rfq = actions.create_segment(
        None,
        environment=environment,
        name="rfq-venue",
        description="RFQ venue behind the FIX-over-TLS gateway",
        resources=[{"name": f"rfq-fix{suffix}", "address": f"rfq{suffix}.venue.internal:9443", "venue": "RFQ1"}],
    )
    market_data = actions.create_segment(
        None,
        environment=environment,
        name="market-data",
        description="Streaming market-data service",
        resources=[{"name": f"md-fix{suffix}", "address": f"md{suffix}.venue.internal:9444", "venue": "MD1"}],
    )
    actions.create_flow(None, source=rfq, destination=market_data, protocol="fix", port=9444)
    actions.create_network_zone(
        None, environment=environment, name="london-office", cidrs=["10.20.0.0/16", "192.0.2.0/24"]
    )
    for cidr, country in (("81.2.69.0/24", "GB"), ("198.51.100.0/24", "US"), ("203.0.113.0/24", "RU")):
        actions.create_country_range(None, environment=environment, cidr=cidr, country=country)
    for name, segment, types in (
        ("traders-rfq", rfq, RFQ_MESSAGE_TYPES),
        ("traders-market-data", market_data, MARKET_DATA_MESSAGE_TYPES),
    ):
        actions.create_access_rule(
            None,
            environment=environment,
            name=name,
            subject_kind="role",
            subject_role=TRADER,
            target_segment=segment,
            message_types=types,
        )
    lines = [f"Sample policy in {environment}: segments rfq-venue and market-data, zone london-office, 3 countries"]
    algorithm = Identity.objects.filter(user__username="algo-rfq-demo", environment=environment).first()
    if algorithm is not None:
        actions.create_access_rule(
            None,
            environment=environment,
            name="algo-rfq-demo-quotes",
            subject_kind="identity",
            subject_identity=algorithm,
            target_segment=rfq,
            message_types=["A", "R", "S", "AI"],
        )
        lines.append(f"  and access for the demo algorithm algo-rfq-demo in {environment}")
    return lines


@transaction.atomic
def load_demo_policy() -> str:
    """The signing key and the sample draft in prod (the personas) and uat (the demo algorithm)."""
    lines = [line for line in [ensure_signing_key()] if line]
    lines += _environment_policy("prod", suffix="")
    lines += _environment_policy("uat", suffix="-uat")
    return "\n".join(lines)
