"""Shared by the policy tests and the authorization matrix."""

from __future__ import annotations

from policies import actions


def build_rfq_policy(personas, environment: str = "prod") -> dict:
    actions.seed_policy(None, environment)
    segment = actions.create_segment(
        None,
        environment=environment,
        name="rfq-gateway",
        description="RFQ FIX gateway",
        resources=[{"name": "rfq-fix", "address": "rfq.internal:9443", "venue": "RFQ1"}],
    )
    rule = actions.create_access_rule(
        None,
        environment=environment,
        name="trader-rfq",
        subject_kind="identity",
        subject_identity=personas["trader"].user.identity,
        target_segment=segment,
        message_types=["R", "S"],
    )
    zone = actions.create_network_zone(None, environment=environment, name="london-office", cidrs=["10.20.0.0/16"])
    return {"segment": segment, "rule": rule, "zone": zone}


def matrix_object(personas, ref: str) -> int:
    """A primary key for the authorization matrix's ``policy_*`` references."""
    from policies.models import PolicyVersion, RiskRule

    if not RiskRule.objects.filter(environment="prod").exists():
        actions.seed_policy(None, "prod")
    if ref == "policy_risk_rule":
        return RiskRule.objects.filter(environment="prod").first().pk
    objects = build_rfq_policy(personas) if ref != "policy_publication" else None
    if ref == "policy_segment":
        return objects["segment"].pk
    if ref == "policy_access_rule":
        return objects["rule"].pk
    if ref == "policy_zone":
        return objects["zone"].pk
    if ref == "policy_flow":
        flow = actions.create_flow(
            None, source=objects["segment"], destination=objects["segment"], protocol="fix", port=9443
        )
        return flow.pk
    if ref == "policy_country":
        return actions.create_country_range(None, environment="prod", cidr="81.2.69.0/24", country="GB").pk
    if ref == "policy_test_case":
        return actions.create_test_case(
            None,
            environment="prod",
            name="matrix",
            request_data={"identity": "tina", "target": "rfq-gateway", "message_type": "R"},
            expected_outcome="allow",
        ).pk
    if ref == "policy_publication":
        actions.init_signing_key(None)
        # Authored by the administrator: the security officer may approve it, the administrator may not.
        pv = actions.request_publication(personas["admin"].user, environment="prod")
        return PolicyVersion.objects.get(pk=pv.pk).pk
    raise KeyError(ref)
