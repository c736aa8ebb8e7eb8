"""Forms of the policy pages: they parse input; ``policies.actions`` validates the policy meaning."""

from __future__ import annotations

import json

from django import forms

from accounts.models import Desk, DeviceRegistration, Environment, Identity
from pep.attributes import ATTRIBUTES
from policies.models import FlowProtocol, Segment, SegmentResource, SubjectKind
from ztconsole.core.countries import is_country_code
from ztconsole.core.roles import ROLES

DAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]
OUTCOMES = [("allow", "allow"), ("step_up", "step_up"), ("deny", "deny")]


def _lines(text: str) -> list[str]:
    return [part.strip() for line in (text or "").splitlines() for part in line.split(",") if part.strip()]


class EnvironmentField(forms.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=Environment.choices, **kwargs)


class SegmentForm(forms.Form):
    environment = EnvironmentField()
    name = forms.CharField(max_length=64, help_text="e.g. rfq-gateway")
    description = forms.CharField(max_length=200, required=False)
    resources = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One resource per line: service-name host:port venue (address and venue optional).",
    )

    def clean_resources(self) -> list[dict]:
        items = []
        for line in (self.cleaned_data["resources"] or "").splitlines():
            parts = line.split()
            if parts:
                items.append(
                    {"name": parts[0], "address": parts[1] if len(parts) > 1 else "", "venue": " ".join(parts[2:])}
                )
        return items

    @staticmethod
    def resources_text(segment: Segment) -> str:
        return "\n".join(" ".join(p for p in (r.name, r.address, r.venue) if p) for r in segment.resources.all())


class FlowForm(forms.Form):
    source = forms.ModelChoiceField(queryset=Segment.objects.all())
    destination = forms.ModelChoiceField(queryset=Segment.objects.all())
    protocol = forms.ChoiceField(choices=[("", "— choose —"), *FlowProtocol.choices])
    port = forms.IntegerField(min_value=1, max_value=65535)


class NetworkZoneForm(forms.Form):
    environment = EnvironmentField()
    name = forms.CharField(max_length=64, help_text="e.g. london-office")
    cidrs = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="CIDRs, one per line or comma-separated."
    )

    def clean_cidrs(self) -> list[str]:
        return _lines(self.cleaned_data["cidrs"])


class CountryRangeForm(forms.Form):
    environment = EnvironmentField()
    cidr = forms.CharField(max_length=64, help_text="e.g. 81.2.69.0/24")
    country = forms.CharField(max_length=2, help_text="ISO 3166 alpha-2, e.g. GB")


class AccessRuleForm(forms.Form):
    environment = EnvironmentField()
    name = forms.CharField(max_length=64, help_text="e.g. fx-desk-rfq")
    subject_kind = forms.ChoiceField(choices=[("", "— choose —"), *SubjectKind.choices], label="Subject")
    subject_identity = forms.ModelChoiceField(
        queryset=Identity.objects.select_related("user").order_by("user__username"), required=False, label="Identity"
    )
    subject_desk = forms.ModelChoiceField(queryset=Desk.objects.all(), required=False, label="Desk")
    subject_role = forms.ChoiceField(choices=[("", "—"), *[(r, r) for r in ROLES]], required=False, label="Role")
    target_segment = forms.ModelChoiceField(queryset=Segment.objects.all(), required=False, label="Target segment")
    target_resource = forms.ModelChoiceField(
        queryset=SegmentResource.objects.select_related("segment"), required=False, label="or target resource"
    )
    message_types = forms.CharField(max_length=200, help_text="FIX MsgTypes, comma-separated (R, S) or *")
    window_timezone = forms.CharField(max_length=64, required=False, label="Trading hours: time zone")
    window_days = forms.TypedMultipleChoiceField(
        choices=DAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple, label="days"
    )
    window_start = forms.CharField(max_length=5, required=False, label="from (HH:MM)")
    window_end = forms.CharField(max_length=5, required=False, label="to (HH:MM)")
    expires_at = forms.DateTimeField(required=False, help_text="UTC, YYYY-MM-DD HH:MM; empty: never")

    def clean_message_types(self) -> list[str]:
        return _lines(self.cleaned_data["message_types"])


def access_rule_data(data: dict) -> dict:
    """An access rule form's cleaned data as the keyword arguments of the access rule actions."""
    window = None
    if data.get("window_start") or data.get("window_end"):
        window = {
            "timezone": data.get("window_timezone") or "UTC",
            "days": data.get("window_days") or list(range(7)),
            "start": data.get("window_start") or "",
            "end": data.get("window_end") or "",
        }
    keys = ("subject_kind", "subject_identity", "subject_desk", "subject_role", "target_segment", "target_resource")
    return {
        **{k: data.get(k) for k in keys},
        "message_types": data["message_types"],
        "window": window,
        "expires_at": data.get("expires_at"),
    }


class RiskRuleForm(forms.Form):
    environment = EnvironmentField()
    name = forms.CharField(max_length=64, help_text="e.g. device-noncompliant")
    attribute = forms.ChoiceField(
        choices=lambda: [("", "— choose —"), *[(a.name, f"{a.name}: {a.description}") for a in ATTRIBUTES.values()]],
        help_text="A risk signal the engine evaluates (pep/attributes.py).",
        widget=forms.Select(attrs={"data-condition-source": ""}),
    )
    condition = forms.ChoiceField(
        # Grouped by attribute; the page shows only the chosen attribute's group (static/js/console.js).
        choices=lambda: [("", "— choose —"), *[(a.name, [(c, c) for c in a.conditions]) for a in ATTRIBUTES.values()]],
        help_text="The value of that signal that adds the score.",
        widget=forms.Select(attrs={"data-condition-target": ""}),
    )
    score = forms.IntegerField(help_text="-100 to 100")
    enabled = forms.BooleanField(required=False, initial=True)


class BandsForm(forms.Form):
    environment = EnvironmentField(widget=forms.HiddenInput)
    step_up = forms.IntegerField(label="Step-up from")
    deny = forms.IntegerField(label="Deny from")


class TestCaseForm(forms.Form):
    environment = EnvironmentField()
    name = forms.CharField(max_length=100)
    request = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text='A decision request as JSON, e.g. {"identity": "tina", "target": "rfq-gateway", "message_type": "R"}',
    )
    expected_outcome = forms.ChoiceField(choices=[("", "— choose —"), *OUTCOMES])

    def clean_request(self) -> dict:
        try:
            value = json.loads(self.cleaned_data["request"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("a JSON object")
        return value


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=500)


class RollbackForm(forms.Form):
    environment = EnvironmentField(widget=forms.HiddenInput)
    version = forms.IntegerField(min_value=1)


class PublishForm(forms.Form):
    environment = EnvironmentField(widget=forms.HiddenInput)


class SimulatorForm(forms.Form):
    environment = EnvironmentField()
    identity = forms.ModelChoiceField(queryset=Identity.objects.select_related("user").order_by("user__username"))
    device = forms.ModelChoiceField(
        queryset=DeviceRegistration.objects.select_related("owner__user").order_by("serial"), required=False
    )
    authentication = forms.ChoiceField(
        choices=[("hardware", "MFA, hardware token"), ("software", "MFA, software token"), ("none", "Password only")]
    )
    source_ip = forms.GenericIPAddressField(required=False, label="Source IP")
    country = forms.CharField(max_length=2, required=False, help_text="override the CIDR table, e.g. GB")
    certificate = forms.RegexField(
        regex=r"^[0-9a-fA-F]{64}$",
        required=False,
        label="Client certificate SHA-256",
        help_text="empty: the identity's newest active certificate, as mutual TLS would present it",
    )
    target = forms.CharField(max_length=64, help_text="segment or resource")
    message_type = forms.CharField(max_length=4, initial="R", help_text="FIX MsgType, e.g. R (QuoteRequest)")
    time = forms.DateTimeField(required=False, help_text="UTC; empty: now")

    def clean_country(self) -> str:
        value = self.cleaned_data["country"].strip().upper()
        if value and not is_country_code(value):
            raise forms.ValidationError("an ISO 3166 alpha-2 code, e.g. GB")
        return value

    @staticmethod
    def _presented(identity) -> str | None:
        from certificates.models import CertificateStatus

        cert = identity.certificates.filter(status=CertificateStatus.ACTIVE).order_by("-not_before", "-id").first()
        return cert.sha256 if cert else None

    def decision_request(self) -> dict:
        from policies.compiler import identity_id

        data = self.cleaned_data
        request = {
            "identity": identity_id(data["identity"]),
            "target": data["target"].strip(),
            "message_type": data["message_type"].strip(),
            "authentication": data["authentication"],
            "device": data["device"].serial if data.get("device") else None,
            "source_ip": data.get("source_ip") or None,
            "country": data.get("country") or None,
            "certificate_fingerprint": (data.get("certificate") or "").lower() or self._presented(data["identity"]),
        }
        if data.get("time"):
            request["time"] = data["time"].timestamp()
        return request
