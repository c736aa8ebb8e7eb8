import django_filters

from accounts.models import Identity
from certificates.models import CertificateStatus
from ztconsole.core.pagination import parse_position

EXPIRING_CHOICES = [("1", "within 1 day"), ("7", "within 7 days"), ("30", "within 30 days"), ("90", "within 90 days")]


class CertificateFilter(django_filters.FilterSet):
    """Shared by the list page and the API: identity (id or username), profile, status, expiring (days)."""

    identity = django_filters.CharFilter(method="by_identity", label="Identity (id or username)")
    profile = django_filters.CharFilter(field_name="profile__name", label="Profile")
    status = django_filters.ChoiceFilter(choices=CertificateStatus.choices)
    expiring = django_filters.ChoiceFilter(choices=EXPIRING_CHOICES, method="by_expiry", label="Expiring")

    def by_identity(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        identity_id = parse_position(value)
        if identity_id is not None:
            return queryset.filter(identity_id=identity_id)
        # The identity first, through its indexes (a username is unique); an OR across the join would make
        # the database scan every certificate. A display name, matched case-insensitively, is the fallback.
        ids = list(Identity.objects.filter(user__username=value).values_list("id", flat=True)[:1])
        if not ids:
            ids = list(Identity.objects.filter(display_name__iexact=value).values_list("id", flat=True)[:100])
        return queryset.filter(identity_id__in=ids)

    def by_expiry(self, queryset, name, value):
        return queryset.expiring_within(int(value)) if value else queryset
