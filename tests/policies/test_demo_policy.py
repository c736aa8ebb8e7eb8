"""The demo's policy: a signing key and a draft the administrator can publish at once."""

from __future__ import annotations

import pytest

from console.demo import load_demo_personas, load_demo_pki
from policies import actions
from policies.demo import load_demo_policy
from policies.models import AccessRule, NetworkZone, PublicationState, Segment, SigningKey
from tests.core.test_missing_configuration import _key_sealed_elsewhere

pytestmark = pytest.mark.django_db


def test_demo_policy_can_be_published_and_approved_at_once():
    load_demo_personas()
    load_demo_pki()
    summary = load_demo_policy()
    assert "Policy signing key created" in summary
    assert set(Segment.objects.filter(environment="prod").values_list("name", flat=True)) == {
        "rfq-venue",
        "market-data",
    }
    assert NetworkZone.objects.filter(environment="prod", name="london-office").exists()
    assert AccessRule.objects.filter(environment="uat", subject_identity__user__username="algo-rfq-demo").exists()
    from django.contrib.auth import get_user_model

    User = get_user_model()
    publication = actions.request_publication(User.objects.get(username="alice"), environment="prod")
    approved = actions.approve_publication(User.objects.get(username="sam"), publication)
    assert approved.state == PublicationState.APPROVED


def test_loading_again_keeps_edits_and_the_key():
    load_demo_personas()
    load_demo_pki()
    load_demo_policy()
    key = SigningKey.objects.get(active=True)
    Segment.objects.filter(name="market-data", environment="prod").update(description="edited in the demo")
    assert load_demo_policy() == ""
    assert SigningKey.objects.get(active=True) == key
    assert Segment.objects.get(name="market-data", environment="prod").description == "edited in the demo"


def test_a_key_the_demo_cannot_open_is_replaced():
    load_demo_personas()
    load_demo_pki()
    broken = _key_sealed_elsewhere()
    summary = load_demo_policy()
    assert f"{broken.kid} could not be opened" in summary and "'elsewhere'" in summary
    assert SigningKey.objects.get(active=True) != broken


def test_every_demo_rule_grants_logon_and_earlier_demo_rules_gain_it():
    load_demo_personas()
    load_demo_pki()
    load_demo_policy()
    assert all("A" in rule.message_types for rule in AccessRule.objects.all())
    # A database from an earlier demo: its rules without A, one of them since edited by someone.
    AccessRule.objects.filter(name="traders-rfq").update(message_types=["R", "S", "AI", "Z", "b", "8", "D"])
    AccessRule.objects.filter(name="algo-rfq-demo-quotes").update(message_types=["R", "S", "AI"])
    AccessRule.objects.filter(name="traders-market-data", environment="prod").update(message_types=["V"])

    summary = load_demo_policy()

    assert "Access rule traders-rfq (prod) now grants Logon (A)" in summary
    assert "A" in AccessRule.objects.get(name="algo-rfq-demo-quotes").message_types
    assert AccessRule.objects.get(name="traders-market-data", environment="prod").message_types == ["V"]
    assert load_demo_policy() == ""
