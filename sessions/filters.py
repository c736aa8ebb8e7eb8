"""The session list's and the decision log's filters, shared by the pages and the API."""

from __future__ import annotations

import django_filters

from accounts.models import Environment
from sessions.models import Decision, FixSession, Outcome, SessionState

STATE_CHOICES = [("live", "Live (any)"), ("ended", "Ended (any)"), *SessionState.choices]


class SessionFilter(django_filters.FilterSet):
    """PEP (name), environment, identity (as the PEP reported it: the username), state, Logon outcome."""

    pep = django_filters.CharFilter(field_name="point__name", label="PEP", max_length=64)
    environment = django_filters.ChoiceFilter(choices=Environment.choices)
    identity = django_filters.CharFilter(field_name="identity_name", label="Identity", max_length=150)
    state = django_filters.ChoiceFilter(choices=STATE_CHOICES, method="by_state")
    outcome = django_filters.ChoiceFilter(choices=Outcome.choices)

    class Meta:
        model = FixSession
        fields = ["pep", "environment", "identity", "state", "outcome"]

    def by_state(self, queryset, name, value):
        from sessions.models import ENDED_STATES, LIVE_STATES

        if value == "live":
            return queryset.filter(state__in=LIVE_STATES)
        if value == "ended":
            return queryset.filter(state__in=ENDED_STATES)
        return queryset.filter(state=value) if value else queryset


class DecisionFilter(django_filters.FilterSet):
    pep = django_filters.CharFilter(field_name="point__name", label="PEP", max_length=64)
    environment = django_filters.ChoiceFilter(choices=Environment.choices)
    identity = django_filters.CharFilter(field_name="identity_name", label="Identity", max_length=150)
    kind = django_filters.ChoiceFilter(choices=[("logon", "Logon decision"), ("reject", "Refused message")])
    outcome = django_filters.ChoiceFilter(choices=[*Outcome.choices, ("reject", "Reject")])
    session = django_filters.CharFilter(field_name="session_id", max_length=16)
    rule = django_filters.CharFilter(field_name="matched_rule", max_length=64)

    class Meta:
        model = Decision
        fields = ["pep", "environment", "identity", "kind", "outcome", "session", "rule"]
