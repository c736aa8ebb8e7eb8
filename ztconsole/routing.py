from django.urls import path

from sessions.consumers import SessionsConsumer
from ztconsole.core.consumers import ConsoleEventsConsumer

websocket_urlpatterns = [
    path("ws/events/", ConsoleEventsConsumer.as_asgi(), name="ws-events"),
    path("ws/sessions/", SessionsConsumer.as_asgi(), name="ws-sessions"),
]
