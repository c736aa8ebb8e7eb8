"""The risk-rule form offers the engine's attributes and conditions (pep/attributes.py), nothing typed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pep.attributes import ATTRIBUTES
from policies.forms import RiskRuleForm
from policies.models import RiskRule

pytestmark = pytest.mark.django_db


def test_choices_come_from_the_registry():
    form = RiskRuleForm()
    assert [value for value, _ in form.fields["attribute"].choices][1:] == list(ATTRIBUTES)
    groups = dict(form.fields["condition"].choices[1:])
    assert {name: [c for c, _ in options] for name, options in groups.items()} == {
        name: list(a.conditions) for name, a in ATTRIBUTES.items()
    }
    # No sensible default: both start blank.
    assert form.fields["attribute"].choices[0][0] == "" and form.fields["condition"].choices[0][0] == ""


def test_unknown_values_and_mismatched_pairs_are_form_errors(personas, verified_client):
    client = verified_client(personas["admin"])
    url = reverse("policies:risk_rule_new")
    base = {"environment": "prod", "name": "new-rule", "score": "5", "enabled": "on"}
    typed = client.post(url, {**base, "attribute": "mood", "condition": "grumpy"})
    assert typed.status_code == 400 and "attribute" in typed.context["form"].errors
    mismatched = client.post(url, {**base, "attribute": "network", "condition": "hardware"})
    assert mismatched.status_code == 400
    assert "unknown condition 'hardware' for network" in mismatched.context["form"].errors["condition"][0]
    assert not RiskRule.objects.filter(name="new-rule").exists()
    ok = client.post(url, {**base, "attribute": "network", "condition": "unknown"})
    assert ok.status_code == 302 and RiskRule.objects.get(name="new-rule").condition == "unknown"
