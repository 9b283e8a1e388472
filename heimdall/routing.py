"""WebSocket routes of every app, under /ws/."""

from apps.signals.routing import websocket_urlpatterns as signals_routes
from apps.training.routing import websocket_urlpatterns as training_routes

websocket_urlpatterns = [*signals_routes, *training_routes]
