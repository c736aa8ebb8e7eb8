from django import forms

from accounts.models import Identity, IdentityStatus
from certificates.models import CertificateProfile, RevocationReason
from certificates.tls import ALLOWED_TLS12_CIPHERS, ALLOWED_TLS13_SUITES
from ztconsole.core.pagination import parse_position

MAX_CSR_BYTES = 20000
_PEM_HELP = "Paste the PEM CSR (-----BEGIN CERTIFICATE REQUEST-----) or upload the file. Keep the private key."


class CsrField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "class": "mono"})


class _CsrFormMixin(forms.Form):
    csr = CsrField(label="CSR (PEM)", required=False, help_text=_PEM_HELP, max_length=MAX_CSR_BYTES)
    csr_file = forms.FileField(label="or CSR file", required=False)
    lifetime_days = forms.IntegerField(label="Lifetime (days)", required=False, min_value=1, max_value=3650)

    def _read_upload(self, data):
        """The uploaded CSR replaces the pasted one; over MAX_CSR_BYTES it is refused before it is read."""
        upload = data.get("csr_file")
        if upload is None:
            return
        if upload.size > MAX_CSR_BYTES:
            self.add_error("csr_file", "A CSR is a few kilobytes; this file is too large (20 KB at most).")
            return
        try:
            data["csr"] = upload.read(MAX_CSR_BYTES + 1).decode("ascii")
        except UnicodeDecodeError:
            self.add_error("csr_file", "The file is not PEM text.")

    def clean(self):
        data = super().clean()
        self._read_upload(data)
        if not (data.get("csr") or "").strip() and not self.has_error("csr_file"):
            self.add_error("csr", "Paste a PEM CSR or upload one.")
        return data


class IssueForm(_CsrFormMixin):
    identity = forms.CharField(
        label="Identity (username or id)",
        max_length=150,
        help_text="The certificate names this identity in its subject and a URI SAN.",
    )
    profile = forms.ModelChoiceField(queryset=CertificateProfile.objects.all(), to_field_name="name")

    field_order = ["identity", "profile", "csr", "csr_file", "lifetime_days"]

    def clean_identity(self):
        ref = self.cleaned_data["identity"].strip()
        query = Identity.objects.select_related("user")
        identity = (
            query.filter(pk=pk) if (pk := parse_position(ref)) is not None else query.filter(user__username=ref)
        ).first()
        if identity is None:
            raise forms.ValidationError(f"No identity {ref!r}.")
        return identity


class RequestForm(_CsrFormMixin):
    identity = forms.ModelChoiceField(queryset=Identity.objects.none(), label="Identity you sponsor")
    profile = forms.ModelChoiceField(queryset=CertificateProfile.objects.all(), to_field_name="name")

    field_order = ["identity", "profile", "csr", "csr_file", "lifetime_days"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["identity"].queryset = Identity.objects.filter(
            sponsor__user=user, status=IdentityStatus.ACTIVE
        ).select_related("user")


class RevokeForm(forms.Form):
    reason = forms.ChoiceField(
        choices=[("", "— choose a reason —"), *RevocationReason.choices],
        help_text="RFC 5280 reason, published in the CRL.",
    )
    comment = forms.CharField(max_length=200, required=False, help_text="Recorded in the audit log.")


class RenewForm(_CsrFormMixin):
    csr = CsrField(
        label="New CSR (PEM, optional)",
        required=False,
        help_text="Leave empty to keep the same key.",
        max_length=MAX_CSR_BYTES,
    )
    revoke_old = forms.BooleanField(required=False, label="Revoke the old certificate (reason: superseded)")

    def clean(self):
        data = forms.Form.clean(self)  # a new CSR is optional here
        self._read_upload(data)
        return data


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=200)


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.replace(",", "\n").replace(":", "\n").splitlines() if line.strip()]


class TlsProfileForm(forms.Form):
    min_version = forms.ChoiceField(choices=[("TLSv1.2", "TLS 1.2"), ("TLSv1.3", "TLS 1.3")])
    tls12_ciphers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}),
        required=False,
        label="TLS 1.2 ciphers (OpenSSL names, one a line)",
        help_text="Allowed: " + ", ".join(sorted(ALLOWED_TLS12_CIPHERS)),
    )
    tls13_suites = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        label="TLS 1.3 suites (one a line)",
        help_text="Allowed: " + ", ".join(sorted(ALLOWED_TLS13_SUITES)),
    )

    def clean_tls12_ciphers(self):
        return _lines(self.cleaned_data["tls12_ciphers"])

    def clean_tls13_suites(self):
        return _lines(self.cleaned_data["tls13_suites"])
