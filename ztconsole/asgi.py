"""ASGI entry point: HTTP through Django, websockets through Channels with the OTP-verified session."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ztconsole.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 - after Django is set up
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from ztconsole.routing import websocket_urlpatterns  # noqa: E402
from ztconsole.ws_auth import OTPAuthMiddlewareStack  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(OTPAuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
