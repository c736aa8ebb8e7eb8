"""django-otp-webauthn's endpoints (same names, so its scripts find them), served by our subclasses."""

from django.urls import path
from django.views.i18n import JavaScriptCatalog

from accounts import webauthn

app_name = "otp_webauthn"


class WebAuthnCatalog(JavaScriptCatalog):
    """The library's translated UI strings for its scripts; nothing sensitive."""

    permission_required = "public"


urlpatterns = [
    path("registration/begin/", webauthn.RegistrationBeginView.as_view(), name="credential-registration-begin"),
    path(
        "registration/complete/",
        webauthn.RegistrationCompleteView.as_view(),
        name="credential-registration-complete",
    ),
    path("authentication/begin/", webauthn.AuthenticationBeginView.as_view(), name="credential-authentication-begin"),
    path(
        "authentication/complete/",
        webauthn.AuthenticationCompleteView.as_view(),
        name="credential-authentication-complete",
    ),
    path("jsi18n/", WebAuthnCatalog.as_view(packages=["django_otp_webauthn"]), name="js-i18n-catalog"),
]
