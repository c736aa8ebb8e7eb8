from __future__ import annotations

from datetime import UTC

from django import forms

from reports.models import ExportFormat


class AuditExportForm(forms.Form):
    """What a compliance officer asks for; times are read as UTC (the chain's time zone)."""

    format = forms.ChoiceField(choices=ExportFormat.choices, initial=ExportFormat.JSONL)
    since = forms.DateTimeField(
        required=False, label="From (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, label="Until (UTC, excluded)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    actor = forms.CharField(required=False, max_length=150, label="Actor (exact username)")
    action_prefix = forms.CharField(required=False, max_length=64, label="Action starts with")

    def filters(self) -> dict[str, str]:
        data = self.cleaned_data
        filters = {"actor": data["actor"], "action_prefix": data["action_prefix"]}
        for name in ("since", "until"):
            if data[name]:
                # datetime-local carries no zone: the form says UTC, so the value is UTC.
                filters[name] = data[name].replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return filters
