from django.urls import path

from ztconsole.core.consumers import ConsoleEventsConsumer

websocket_urlpatterns = [
    path("ws/events/", ConsoleEventsConsumer.as_asgi(), name="ws-events"),
]
