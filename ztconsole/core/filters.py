"""The audit list's filters, shared by the page and the API, with one meaning on PostgreSQL and SQLite.

An exact action or actor reads the ``(action, -seq)`` / ``(actor_label, -seq)`` index: one range, already
newest first. An action prefix is compared case-sensitively on both databases (SQLite's LIKE would ignore
case), and read one of two ways, chosen by a bounded count on the action index: a prefix few events carry
is read from that index and its rows sorted (at most PROBE of them); a prefix many carry walks the ``seq``
index newest first through an expression no index serves, and stops after a page of matches, which costs
at most page size x (events / matching events) rows.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models.functions import Substr

from ztconsole.core.models import AuditEvent
from ztconsole.core.search import MIN_SEARCH_LENGTH, vendor
from ztconsole.core.validators import plausible_date

PROBE = 5000


def action_prefix(queryset, prefix: str):
    if not prefix:
        return queryset
    if vendor(queryset) == "sqlite":
        indexed = queryset.filter(action__gte=prefix, action__lt=prefix + "\U0010ffff")  # binary: case-sensitive
    else:
        indexed = queryset.filter(action__startswith=prefix)  # LIKE: case-sensitive, pattern-ops index
    if indexed.order_by()[:PROBE].count() < PROBE:
        return indexed
    return queryset.alias(action_head=Substr("action", 1, len(prefix))).filter(action_head=prefix)


def _plausible(value) -> None:
    try:
        plausible_date(value)
    except ValueError as exc:
        raise forms.ValidationError(str(exc)) from None


class AddressFilter(django_filters.Filter):
    field_class = forms.GenericIPAddressField


class AuditEventFilter(django_filters.FilterSet):
    """The API's audit filters: the explorer's (ztconsole/core/explorer.py) that read one index range each."""

    action = django_filters.CharFilter(field_name="action", max_length=64)
    action__startswith = django_filters.CharFilter(method="by_prefix", max_length=64, label="Action starts with")
    actor_label = django_filters.CharFilter(field_name="actor_label", max_length=150)
    since = django_filters.IsoDateTimeFilter(
        method="by_period", label="Recorded at or after (ISO 8601)", validators=[_plausible]
    )
    until = django_filters.IsoDateTimeFilter(
        method="by_period", label="Recorded before (ISO 8601)", validators=[_plausible]
    )
    target_type = django_filters.CharFilter(field_name="target_type", max_length=64)
    target_id = django_filters.CharFilter(field_name="target_id", max_length=64)
    ip_address = AddressFilter(field_name="ip_address", label="Source address")
    request_id = django_filters.CharFilter(field_name="request_id", max_length=64)
    text = django_filters.CharFilter(
        method="by_text", min_length=MIN_SEARCH_LENGTH, max_length=200, label="Target label contains"
    )

    class Meta:
        model = AuditEvent
        fields = ["action", "action__startswith", "actor_label"]

    def by_prefix(self, queryset, name, value):
        return action_prefix(queryset, value)

    def by_period(self, queryset, name, value):
        from ztconsole.core import explorer

        queryset, _ = explorer.apply(queryset, {name: value}, [])
        return queryset

    def by_text(self, queryset, name, value):
        from ztconsole.core import explorer

        return queryset.filter(explorer.text_condition(queryset, value))
