"""List filters shared by the identity pages and the identities API."""

import django_filters
from django import forms
from django.contrib.auth import get_user_model

from accounts.models import (
    Compliance,
    Desk,
    DeviceKind,
    DeviceRegistration,
    DeviceStatus,
    Environment,
    Identity,
    IdentityKind,
    IdentityStatus,
)
from accounts.search import DEVICE_FTS, IDENTITY_FTS
from ztconsole.core.roles import ROLES
from ztconsole.core.search import MIN_SEARCH_LENGTH, fts_contains, trigram_contains, vendor

User = get_user_model()


class IdentityFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search", min_length=MIN_SEARCH_LENGTH)
    kind = django_filters.ChoiceFilter(choices=IdentityKind.choices)
    status = django_filters.ChoiceFilter(choices=IdentityStatus.choices)
    environment = django_filters.ChoiceFilter(choices=Environment.choices)
    desk = django_filters.ModelChoiceFilter(queryset=Desk.objects.all())
    role = django_filters.ChoiceFilter(choices=[(r, r) for r in ROLES], field_name="user__groups__name")

    class Meta:
        model = Identity
        fields = ["q", "kind", "status", "environment", "desk", "role"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        if vendor(queryset) == "postgresql":
            return queryset.filter(
                trigram_contains(Identity.objects.all(), ["display_name", "sender_comp_ids"], value)
                | trigram_contains(User.objects.all(), ["username", "email"], value, via="user_id")
            )
        return queryset.filter(fts_contains(IDENTITY_FTS, value))


class AnyYesNoSelect(forms.NullBooleanSelect):
    """Like NullBooleanSelect (true/false in query strings), but the empty choice reads "Any"."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("unknown", "Any"), ("true", "Yes"), ("false", "No")]


class DeviceFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search", min_length=MIN_SEARCH_LENGTH)
    owner = django_filters.CharFilter(field_name="owner__user__username", label="Owner (username)")
    kind = django_filters.ChoiceFilter(choices=DeviceKind.choices)
    compliance = django_filters.ChoiceFilter(choices=Compliance.choices)
    managed = django_filters.BooleanFilter(widget=AnyYesNoSelect)
    status = django_filters.ChoiceFilter(choices=DeviceStatus.choices)

    class Meta:
        model = DeviceRegistration
        fields = ["q", "owner", "kind", "compliance", "managed", "status"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        if vendor(queryset) == "postgresql":
            return queryset.filter(
                trigram_contains(DeviceRegistration.objects.all(), ["serial", "hostname"], value)
                | trigram_contains(Identity.objects.all(), ["display_name"], value, via="owner_id")
            )
        return queryset.filter(
            fts_contains(DEVICE_FTS, value) | fts_contains(IDENTITY_FTS, value, ("display_name",), via="owner_id")
        )
