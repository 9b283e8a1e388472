"""WebSocket routes of every app, under /ws/."""

from apps.signals.routing import websocket_urlpatterns as signals_routes

websocket_urlpatterns = [*signals_routes]
