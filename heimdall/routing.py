"""WebSocket routes of every app, under /ws/; any other path is closed with 4404."""

from channels.routing import URLRouter
from django.urls import re_path

from apps.core.consumers import NoRouteConsumer
from apps.signals.routing import websocket_urlpatterns as signals_routes
from apps.training.routing import websocket_urlpatterns as training_routes

websocket_urlpatterns = [
    *signals_routes,
    *training_routes,
    re_path(r"", NoRouteConsumer.as_asgi()),  # last: what no app routes
]

_no_route = NoRouteConsumer.as_asgi()


class WebSocketRouter(URLRouter):
    """channels' URLRouter, except that a path outside the scope's root_path is closed
    with 4404 like any other unrouted path: daphne takes root_path from any client's
    Daphne-Root-Path header, and URLRouter raised ValueError ("No route found for
    path"): a traceback and a 500 handshake refusal."""

    async def __call__(self, scope, receive, send):
        root_path = scope.get("root_path", "")
        if "path_remaining" not in scope and not scope.get("path", "").startswith(root_path):
            return await _no_route(scope, receive, send)
        return await super().__call__(scope, receive, send)
