from django import forms


class TerminateForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        label="Reason",
        help_text="Sent to the counterparty in the Logout's Text (58) and kept in the audit log.",
    )
