from __future__ import annotations

from django import forms

from accounts.models import Environment


def _segments(value: str) -> list[str]:
    return [part.strip() for part in (value or "").replace("\n", ",").split(",") if part.strip()]


class RegisterPointForm(forms.Form):
    name = forms.CharField(max_length=60, help_text="Lower-case letters, digits and '-', e.g. pep-ldn-1.")
    environment = forms.ChoiceField(choices=Environment.choices)
    control_url = forms.CharField(max_length=300, label="Control URL", help_text="https://host:port")
    segments = forms.CharField(required=False, help_text="Segment names it fronts, comma-separated.")
    csr = forms.CharField(
        label="Certificate signing request (PEM)",
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text="Issued under the pep profile; the console pins the certificate it issues.",
    )

    def clean_segments(self) -> list[str]:
        return _segments(self.cleaned_data.get("segments", ""))


class EditPointForm(forms.Form):
    control_url = forms.CharField(max_length=300, label="Control URL")
    segments = forms.CharField(required=False, help_text="Segment names it fronts, comma-separated.")
    status = forms.ChoiceField(choices=[("active", "Active"), ("draining", "Draining (receives nothing new)")])

    def clean_segments(self) -> list[str]:
        return _segments(self.cleaned_data.get("segments", ""))


class RetirePointForm(forms.Form):
    reason = forms.CharField(max_length=200)
