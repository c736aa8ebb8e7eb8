from __future__ import annotations

from datetime import UTC, timedelta

from django import forms

from reports.catalogue import Period
from reports.models import ExportFormat
from ztconsole.core.validators import plausible_date


class AuditExportForm(forms.Form):
    """What a compliance officer asks for; times are read as UTC (the chain's time zone)."""

    format = forms.ChoiceField(
        choices=[(ExportFormat.JSONL, "JSON Lines"), (ExportFormat.CSV, "CSV")], initial=ExportFormat.JSONL
    )
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


class ReportPeriodForm(forms.Form):
    """A report's period in the URL: first and last day, both included (UTC)."""

    since = forms.DateField(label="From (UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To (UTC, included)", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        for name in ("since", "until"):
            try:
                plausible_date(data.get(name))
            except ValueError as exc:
                self.add_error(name, str(exc))
                data.pop(name, None)
        if data.get("since") and data.get("until"):
            if data["until"] < data["since"]:
                self.add_error("until", "must not be before the start of the period")
            elif (data["until"] - data["since"]).days > 3660:
                self.add_error("until", "at most ten years")
        return data

    def period(self) -> Period:
        return Period.of_days(self.cleaned_data["since"], self.cleaned_data["until"] + timedelta(days=1))


class ReportExportForm(forms.Form):
    format = forms.ChoiceField(choices=ExportFormat.choices, initial=ExportFormat.PDF, label="Format")
    since = forms.CharField(max_length=10, widget=forms.HiddenInput)
    until = forms.CharField(max_length=10, widget=forms.HiddenInput)
