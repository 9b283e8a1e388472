from django.urls import re_path

from apps.signals.consumers import LiveSignalsConsumer

websocket_urlpatterns = [re_path(r"^ws/signals/live/?$", LiveSignalsConsumer.as_asgi())]
