"""List filters shared by the identity pages and the identities API."""

import django_filters
from django import forms
from django.db.models import Q

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
from ztconsole.core.roles import ROLES


class IdentityFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
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
        return queryset.filter(
            Q(display_name__icontains=value)
            | Q(user__username__icontains=value)
            | Q(user__email__icontains=value)
            | Q(sender_comp_ids__icontains=value)
        )


class AnyYesNoSelect(forms.NullBooleanSelect):
    """Like NullBooleanSelect (true/false in query strings), but the empty choice reads "Any"."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("unknown", "Any"), ("true", "Yes"), ("false", "No")]


class DeviceFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
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
        return queryset.filter(
            Q(serial__icontains=value) | Q(hostname__icontains=value) | Q(owner__display_name__icontains=value)
        )
