"""The audit explorer's filters: parsed from the query string, applied so each one reads an index range.

Every filter is optional and they combine (AND). The page, a bookmark and a shared link hold them in the URL.
How each filter stays an index read at millions of events, on PostgreSQL and SQLite alike:

| filter | index |
|---|---|
| ``since`` / ``until`` | ``(created_at, seq)`` turns the period into a ``seq`` range; rows are then read on ``seq`` |
| ``actor`` | ``(actor_label, -seq)`` |
| ``action`` (prefix or exact) | ``(action, -seq)`` (see ``filters.action_prefix``) |
| ``target_type`` / ``target_id`` | ``(target_type, target_id, -seq)`` |
| ``identity`` | ``(actor, -seq)`` and ``(target_type, target_id, -seq)``, one branch each (below) |
| ``outcome`` | the distinct actions (a skip scan of ``(action, -seq)``); refused: ``(action, -seq)``, one branch |
|  | per refusal action (below); success: ``action NOT IN (...)`` while walking ``seq`` (most events succeed) |
| ``ip`` | ``(ip_address, -seq)`` |
| ``request_id`` | ``(request_id, -seq)`` |
| ``text`` | pg_trgm GIN on ``UPPER(target_label)`` (PostgreSQL), the FTS5 trigram table (SQLite) |

A filter that is an OR (the identity's branches, the refusal actions) is not left to the planners, which would sort
every matching row or walk the whole ``seq`` index for a rare match: :func:`branch_seqs` reads each branch as its own
index range, newest first from the page's cursor, ``page size + 1`` rows each, all in one ``UNION ALL`` query; the
page is then cut from those rows, which hold the true page whatever the branches' sizes.

``created_at`` is taken when an event is recorded, just before the chain's lock: between concurrent writers it
can run a little out of ``seq`` order. The ``seq`` range of a period is therefore looked up with a margin of
:data:`CLOCK_MARGIN` on each side, and the exact ``created_at`` bounds are applied on top of it: an event is in
the period exactly when its ``created_at`` is, as long as no writer waited more than the margin for the lock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Q, QuerySet

from ztconsole.core import validators
from ztconsole.core.filters import action_prefix
from ztconsole.core.keyset import InvalidCursor, Keyset
from ztconsole.core.models import AuditEvent
from ztconsole.core.search import MIN_SEARCH_LENGTH, FtsIndex, fts_contains, trigram_contains, vendor

CLOCK_MARGIN = timedelta(minutes=15)
# The last word of an action that records a refusal: "auth.login_failed", "enrollment_code.rejected" ...
REFUSAL_WORDS = ("failed", "refused", "rejected", "denied", "lockout", "throttled", "blocked")

AUDIT_FTS = FtsIndex(
    table="core_audit_search",
    columns=("target_label",),
    select="SELECT e.id, e.target_label FROM core_auditevent e WHERE {where}",
    triggers=(
        "core_audit_search_ai AFTER INSERT ON core_auditevent BEGIN "
        "INSERT INTO core_audit_search(rowid, target_label) VALUES (NEW.id, NEW.target_label); END",
        # Events are never updated; retention may delete old ones.
        "core_audit_search_ad AFTER DELETE ON core_auditevent BEGIN "
        "DELETE FROM core_audit_search WHERE rowid = OLD.id; END",
    ),
)
TRIGRAM_INDEX = ("core_audit_target_label_trgm", "core_auditevent", "target_label")

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]


def is_refusal(action: str) -> bool:
    """True when the action records something refused or failed (its last word says so)."""
    last = action.rsplit(".", 1)[-1]
    return any(last == word or last.endswith("_" + word) for word in REFUSAL_WORDS)


def distinct_actions() -> list[str]:
    """Every action name in the log, read by a skip scan of the action index (one probe per name, not a scan)."""
    sql = (
        "WITH RECURSIVE names(action) AS ("
        " SELECT MIN(action) FROM core_auditevent"
        " UNION ALL"
        " SELECT (SELECT MIN(e.action) FROM core_auditevent e WHERE e.action > names.action)"
        " FROM names WHERE names.action IS NOT NULL"
        ") SELECT action FROM names WHERE action IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


class ExplorerForm(forms.Form):
    """The explorer's query string; every field optional. Times are UTC (the chain's time zone)."""

    since = forms.DateTimeField(
        required=False,
        label="From (UTC)",
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    until = forms.DateTimeField(
        required=False,
        label="Until (UTC, excluded)",
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    actor = forms.CharField(required=False, max_length=150, label="Actor (username)")
    action = forms.CharField(
        required=False, max_length=64, label="Action", widget=forms.TextInput(attrs={"list": "audit-actions"})
    )
    action_match = forms.ChoiceField(
        required=False,
        choices=[("prefix", "starts with"), ("exact", "is exactly")],
        initial="prefix",
        label="Action match",
    )
    target_type = forms.CharField(required=False, max_length=64, label="Target type")
    target_id = forms.CharField(required=False, max_length=64, label="Target id")
    identity = forms.CharField(required=False, max_length=150, label="Identity concerned (username)")
    outcome = forms.ChoiceField(
        required=False,
        choices=[("", "any"), ("success", "success"), ("refused", "refused or failed")],
        label="Outcome",
    )
    ip = forms.GenericIPAddressField(required=False, label="Source address")
    request_id = forms.CharField(required=False, max_length=64, label="Request id")
    text = forms.CharField(required=False, max_length=200, label="Target label contains")

    def clean_text(self) -> str:
        text = self.cleaned_data["text"].strip()
        if text and len(text) < MIN_SEARCH_LENGTH:
            raise forms.ValidationError(f"at least {MIN_SEARCH_LENGTH} characters")
        return text

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in ("since", "until"):
            if data.get(name) is not None:
                try:
                    validators.plausible_date(data[name])
                except ValueError as exc:
                    self.add_error(name, str(exc))
                    data.pop(name, None)
                    continue
                data[name] = data[name].replace(tzinfo=UTC)  # the form says UTC
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            self.add_error("until", "must be after the start of the period")
        if data.get("target_id") and not data.get("target_type"):
            self.add_error("target_type", "give the target type with a target id (e.g. accounts.identity)")
        return data

    def active(self) -> dict[str, Any]:
        """The filters in use (for the page's summary and the query-count tests)."""
        if not hasattr(self, "cleaned_data"):
            return {}
        return {
            key: value
            for key, value in self.cleaned_data.items()
            if value not in (None, "") and not (key == "action_match" and not self.cleaned_data.get("action"))
        }


def _seq_bound(since: datetime | None, until: datetime | None) -> tuple[int | None, int | None, bool]:
    """(lowest seq, highest seq, empty) for a period, each looked up through the (created_at, seq) index."""
    lo = hi = None
    if since is not None:
        lo = (
            AuditEvent.objects.filter(created_at__gte=since - CLOCK_MARGIN)
            .order_by("created_at", "seq")
            .values_list("seq", flat=True)
            .first()
        )
        if lo is None:
            return None, None, True
    if until is not None:
        hi = (
            AuditEvent.objects.filter(created_at__lt=until + CLOCK_MARGIN)
            .order_by("-created_at", "-seq")
            .values_list("seq", flat=True)
            .first()
        )
        if hi is None:
            return None, None, True
    return lo, hi, False


def identity_conditions(username: str) -> list[Q]:
    """Events that concern a person or non-person identity, one condition per index: it acted, or it (or its
    account, or a sign-in attempt with its name) is the target. Empty when there is no such username."""
    user = get_user_model().objects.filter(username=username).select_related("identity").first()
    if user is None:
        return []
    conditions = [
        Q(actor_id=user.pk),
        Q(target_type="auth.user", target_id=str(user.pk)),
        Q(target_type="auth.user", target_id="", target_label=username),  # sign-in attempts by name
    ]
    identity = getattr(user, "identity", None)
    if identity is not None:
        conditions.append(Q(target_type="accounts.identity", target_id=str(identity.pk)))
    return conditions


def text_condition(queryset: QuerySet, term: str) -> Q:
    if vendor(queryset) == "sqlite":
        return fts_contains(AUDIT_FTS, term, via="id")
    return trigram_contains(AuditEvent.objects.all(), ["target_label"], term, via="id")


def apply(queryset: QuerySet, data: dict[str, Any], actions: list[str]) -> tuple[QuerySet, list[Q]]:
    """``queryset`` narrowed by the cleaned filters ``data``, and the branches of an OR still to apply (none, or
    several: pass them to :func:`branch_seqs`); ``actions``: every action name in the log."""
    since, until = data.get("since"), data.get("until")
    if since or until:
        lo, hi, empty = _seq_bound(since, until)
        if empty:
            return queryset.none(), []
        if lo is not None:
            queryset = queryset.filter(seq__gte=lo, created_at__gte=since)
        if hi is not None:
            queryset = queryset.filter(seq__lte=hi, created_at__lt=until)
    if data.get("actor"):
        queryset = queryset.filter(actor_label=data["actor"])
    if data.get("action"):
        if data.get("action_match") == "exact":
            queryset = queryset.filter(action=data["action"])
        else:
            queryset = action_prefix(queryset, data["action"])
    if data.get("target_type"):
        queryset = queryset.filter(target_type=data["target_type"])
        if data.get("target_id"):
            queryset = queryset.filter(target_id=data["target_id"])
    branches: list[Q] = []
    if data.get("identity"):
        conditions = identity_conditions(data["identity"])
        if not conditions:
            return queryset.none(), []
        branches = conditions
    if data.get("outcome"):
        refusals = [name for name in actions if is_refusal(name)]
        if data["outcome"] == "refused":
            if not refusals:
                return queryset.none(), []
            if branches:
                queryset = queryset.filter(action__in=refusals)
            else:
                branches = [Q(action=name) for name in refusals]
        elif refusals:
            queryset = queryset.exclude(action__in=refusals)
    if data.get("ip"):
        queryset = queryset.filter(ip_address=data["ip"])
    if data.get("request_id"):
        queryset = queryset.filter(request_id=data["request_id"])
    if data.get("text"):
        queryset = queryset.filter(text_condition(queryset, data["text"]))
    return queryset, branches


def branch_seqs(queryset: QuerySet, branches: list[Q], keyset: Keyset, cursor: str | None, size: int) -> list[int]:
    """The seqs a page can hold when the filter is ``queryset`` AND (any of ``branches``), in one query.

    Each branch is read as its own index range: the ``size + 1`` rows beyond the cursor in the page's direction,
    and, walking backwards, also its newest ``size + 1`` rows (the first page, which ``Keyset.paginate`` falls back
    to at the start). The page among those rows is the page among all matching rows.
    """
    try:
        direction, values = ("n", None) if not cursor else keyset.decode(AuditEvent, cursor)
    except InvalidCursor:
        direction, values = "n", None
    backwards = direction == "p"
    parts = []
    for condition in branches:
        branch = queryset.filter(condition)
        windows = []
        if values is not None:
            windows.append(branch.filter(keyset.beyond(values, backwards)).order_by("seq" if backwards else "-seq"))
        if values is None or backwards:
            windows.append(branch.order_by("-seq"))
        for window in windows:
            try:
                parts.append(window.values_list("seq", flat=True)[: size + 1].query.sql_with_params())
            except EmptyResultSet:
                continue
    if not parts:
        return []
    # The parts are SQL that Django compiled from querysets; every value travels as a parameter.
    sql = " UNION ALL ".join(f"SELECT seq FROM ({text}) AS branch{i}" for i, (text, _) in enumerate(parts))  # noqa: S608
    with connection.cursor() as cursor_:
        cursor_.execute(sql, [param for _, params in parts for param in params])
        return sorted({row[0] for row in cursor_.fetchall()})
