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
from django.db.models.functions import Substr

from ztconsole.core.models import AuditEvent
from ztconsole.core.search import vendor

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


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(field_name="action", max_length=64)
    action__startswith = django_filters.CharFilter(method="by_prefix", max_length=64, label="Action starts with")
    actor_label = django_filters.CharFilter(field_name="actor_label", max_length=150)

    class Meta:
        model = AuditEvent
        fields = ["action", "action__startswith", "actor_label"]

    def by_prefix(self, queryset, name, value):
        return action_prefix(queryset, value)
