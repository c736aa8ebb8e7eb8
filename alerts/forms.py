from __future__ import annotations

from django import forms

from alerts.actions import COMMENT_MAX, THRESHOLD_LIMITS, WINDOW_LIMITS
from alerts.models import CONTAINABLE, DECISION_DETECTORS, NO_THRESHOLD, WINDOWED, Detector


class AcknowledgeForm(forms.Form):
    comment = forms.CharField(
        max_length=COMMENT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What you found or did; it goes into the audit log and to the SIEM.",
    )


class RuleForm(forms.Form):
    enabled = forms.BooleanField(required=False)
    threshold = forms.IntegerField(min_value=THRESHOLD_LIMITS[0], max_value=THRESHOLD_LIMITS[1])
    window_seconds = forms.IntegerField(
        label="Window (seconds)", min_value=WINDOW_LIMITS[0], max_value=WINDOW_LIMITS[1], required=False
    )
    containment = forms.BooleanField(
        required=False, label="Automated containment", help_text="Suspend the identity when the alert opens."
    )

    def __init__(self, *args, detector: str, **kwargs) -> None:
        super().__init__(*args, auto_id=f"id_{detector}_%s", **kwargs)
        self.detector = detector
        if detector in NO_THRESHOLD:
            del self.fields["threshold"]
        elif detector == Detector.CERTIFICATE_EXPIRING:
            self.fields["threshold"].label = "Days before expiry"
        elif detector in DECISION_DETECTORS:
            self.fields["threshold"].label = "Denied Logons within the window"
        else:
            self.fields["threshold"].label = "Failures within the window"
        if detector not in WINDOWED:
            del self.fields["window_seconds"]
        else:
            self.fields["window_seconds"].required = True
        if detector not in CONTAINABLE:
            del self.fields["containment"]
