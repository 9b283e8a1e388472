"""WebSocket routes of every app, under /ws/; any other path is closed with 4404."""

from django.urls import re_path

from apps.core.consumers import NoRouteConsumer
from apps.signals.routing import websocket_urlpatterns as signals_routes
from apps.training.routing import websocket_urlpatterns as training_routes

websocket_urlpatterns = [
    *signals_routes,
    *training_routes,
    re_path(r"", NoRouteConsumer.as_asgi()),  # last: what no app routes
]
