from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.validators import RegexValidator

from accounts.models import (
    ApiTokenScope,
    Assurance,
    Desk,
    DeviceKind,
    EmploymentStatus,
    Environment,
    Identity,
    IdentityKind,
    IdentityStatus,
)
from ztconsole.core.countries import is_country_code
from ztconsole.core.roles import ROLES

User = get_user_model()

ROLE_CHOICES = [(r, r) for r in ROLES]


def blank(choices, label: str = "— choose —") -> list:
    """Choices that start blank: a select with no sensible default makes the user pick (required fields)."""
    return [("", label), *choices]


_CODE = RegexValidator(
    r"^\s*(\d{6,8}|[A-Za-z0-9]{10}|[cbdefghijklnrtuvCBDEFGHIJKLNRTUV]{34,64})\s*$",
    "Enter the 6 or 8 digit code your device shows, a 10-character single-use code, or touch your YubiKey.",
)


class OTPCodeField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", "One-time code")
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("validators", [_CODE])
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
        )
        super().__init__(**kwargs)


class OTPVerifyForm(forms.Form):
    """A code from any of the user's confirmed devices: the console finds the device that accepts it."""

    otp_token = OTPCodeField(
        help_text="From your authenticator app, hardware token, YubiKey (touch it) or a single-use backup code."
    )

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user


class EnrollmentCodeForm(forms.Form):
    code = forms.CharField(
        label="Enrollment code",
        max_length=40,
        help_text="The one-time code an administrator gave you, e.g. ABCD-EFGH-JKLM-NPQR.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True, "spellcheck": "false"}),
    )


class ConfirmDeviceForm(forms.Form):
    token = OTPCodeField(label="Code from your authenticator")


class CommaListField(forms.CharField):
    """A comma- or space-separated list typed into one box."""

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [item for item in text.replace(",", " ").split() if item]


class CountryListField(CommaListField):
    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "Two-letter ISO codes where this person normally works, e.g. GB, US.")
        super().__init__(**kwargs)

    def validate(self, value):
        super().validate(value)
        bad = [code for code in value if not is_country_code(code.upper())]
        if bad:
            raise forms.ValidationError(f"Not ISO 3166-1 alpha-2 country codes: {', '.join(bad)}")


def sponsor_choices():
    return Identity.objects.filter(kind=IdentityKind.HUMAN, status=IdentityStatus.ACTIVE).select_related("user")


class NonPersonIdentityForm(forms.Form):
    name = forms.RegexField(
        regex=r"^[a-z][a-z0-9._-]{1,63}$",
        max_length=64,
        help_text="Machine name, e.g. algo-rfq-eu-1.",
        error_messages={"invalid": "Use 2-64 lower-case letters, digits, '.', '_' or '-', starting with a letter."},
    )
    display_name = forms.CharField(max_length=150)
    kind = forms.ChoiceField(choices=blank([c for c in IdentityKind.choices if c[0] != IdentityKind.HUMAN]))
    environment = forms.ChoiceField(choices=blank(Environment.choices))
    sponsor = forms.ModelChoiceField(queryset=sponsor_choices(), help_text="The person answerable for it.")
    sender_comp_ids = CommaListField(
        required=False, label="FIX SenderCompIDs", help_text="Required for algorithms and FIX gateways."
    )
    desk = forms.ModelChoiceField(queryset=Desk.objects.all(), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sponsor"].queryset = sponsor_choices()


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=200, help_text="Recorded in the audit log.")


class SponsorForm(forms.Form):
    sponsor = forms.ModelChoiceField(queryset=sponsor_choices())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sponsor"].queryset = sponsor_choices()


class IdentityCreateForm(forms.Form):
    username = forms.RegexField(
        regex=r"^[a-z][a-z0-9._-]{1,63}$",
        max_length=64,
        error_messages={"invalid": "Use 2-64 lower-case letters, digits, '.', '_' or '-', starting with a letter."},
    )
    full_name = forms.CharField(max_length=150)
    email = forms.EmailField()
    role = forms.ChoiceField(choices=blank(ROLE_CHOICES))
    desk = forms.ModelChoiceField(queryset=Desk.objects.all(), required=False)
    expected_countries = CountryListField(required=False)
    employment_status = forms.ChoiceField(choices=EmploymentStatus.choices, initial=EmploymentStatus.EMPLOYEE)
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="An initial password the person changes later; at least 12 characters.",
    )

    def clean_username(self):
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("An identity with this username already exists.")
        return username

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password"):
            candidate = User(username=self.data.get("username", ""), email=cleaned.get("email", ""))
            try:
                validate_password(cleaned["password"], candidate)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class ApiTokenForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).exclude(identity__kind=IdentityKind.HUMAN).order_by("username"),
        label="Identity",
        help_text="Tokens are for non-person identities: services, algorithms, FIX gateways.",
    )
    name = forms.CharField(max_length=100, help_text="What uses the token, e.g. 'mdm-posture-feed'.")
    scope = forms.ChoiceField(choices=ApiTokenScope.choices)
    days = forms.IntegerField(
        min_value=1, max_value=settings.ZT_API_TOKEN_MAX_DAYS, initial=90, label="Lifetime (days)"
    )


class TwoCodesForm(forms.Form):
    code1 = OTPCodeField(
        label="First code", widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"})
    )
    code2 = OTPCodeField(
        label="Next code", widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"})
    )


class HardwareEnrollForm(TwoCodesForm):
    serial = forms.CharField(max_length=64, label="Serial number", help_text="Printed on the back of the token.")

    field_order = ["serial", "code1", "code2"]


class SeedImportForm(forms.Form):
    file = forms.FileField(
        label="Seed file", help_text="PSKC (RFC 6030) XML, or OATH CSV: serial,key,type,digits,counter|step"
    )
    psk = forms.CharField(
        required=False,
        label="Pre-shared key (hex)",
        help_text="For PSKC files encrypted with a pre-shared key.",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )
    password = forms.CharField(
        required=False,
        label="Password",
        help_text="For PSKC files encrypted with a password (PBKDF2).",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )


class AssignTokenForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.none(), label="Person")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = User.objects.filter(is_active=True, identity__kind=IdentityKind.HUMAN).order_by(
            "username"
        )


class TemporaryCodesForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=10, initial=5)
    hours = forms.IntegerField(min_value=1, max_value=72, initial=24, label="Valid for (hours)")


class RoleAssuranceForm(forms.Form):
    def __init__(self, *args, current: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        current = current or {}
        for role in ROLES:
            self.fields[role] = forms.ChoiceField(
                choices=Assurance.choices, initial=current.get(role, Assurance.SOFTWARE), label=role
            )


class YubikeyEnrollForm(forms.Form):
    otp = forms.RegexField(
        regex=r"^\s*[cbdefghijklnrtuvCBDEFGHIJKLNRTUV]{34,64}\s*$",
        label="YubiKey OTP",
        max_length=70,
        help_text="Put the cursor here and touch the key's button.",
        error_messages={"invalid": "That is not a YubiKey OTP: touch the key with the cursor in this field."},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class DeviceRegisterForm(forms.Form):
    """Device managers may name an owner by username; everyone else registers their own device."""

    owner = forms.CharField(
        max_length=150, required=False, label="Owner (username)", help_text="Leave empty to register your own."
    )
    kind = forms.ChoiceField(choices=blank(DeviceKind.choices))
    platform = forms.CharField(max_length=100, help_text="Operating system, e.g. Windows 11 or RHEL 9.")
    serial = forms.CharField(max_length=64, label="Serial / asset tag")
    hostname = forms.CharField(max_length=253, required=False)

    def __init__(self, *args, can_choose_owner: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_choose_owner:
            del self.fields["owner"]

    def clean_owner(self) -> Identity | None:
        username = self.cleaned_data["owner"].strip()
        if not username:
            return None
        identity = Identity.objects.select_related("user").filter(user__username__iexact=username).first()
        if identity is None:
            raise forms.ValidationError(f"No identity is named {username!r}.")
        return identity


class DeviceTokenForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=min(365, settings.ZT_API_TOKEN_MAX_DAYS), initial=90)


class DeskForm(forms.Form):
    name = forms.CharField(max_length=80)
    description = forms.CharField(max_length=200, required=False)


class MoveToDeskForm(forms.Form):
    desk = forms.ModelChoiceField(queryset=Desk.objects.all(), required=False, empty_label="(no desk)")


_DAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class TradingHoursForm(forms.Form):
    """Empty start and end clear the window (no trading-hours condition for this identity)."""

    timezone = forms.CharField(max_length=64, initial="Europe/London", help_text="IANA zone, e.g. Europe/London")
    days = forms.TypedMultipleChoiceField(
        choices=_DAYS, coerce=int, required=False, initial=[0, 1, 2, 3, 4], widget=forms.CheckboxSelectMultiple
    )
    start = forms.CharField(max_length=5, required=False, help_text="HH:MM")
    end = forms.CharField(max_length=5, required=False, help_text="HH:MM")

    def window(self):
        data = self.cleaned_data
        if not data["start"] and not data["end"]:
            return None
        return {"timezone": data["timezone"], "days": data["days"], "start": data["start"], "end": data["end"]}
