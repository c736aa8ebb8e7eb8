"""List filters shared by the identity pages and the identities API."""

import django_filters
from django.db.models import Q

from accounts.models import Desk, Environment, Identity, IdentityKind, IdentityStatus
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
