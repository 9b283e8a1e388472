from django.urls import re_path

from apps.training.consumers import TrainingJobConsumer, TrainingStreamConsumer

websocket_urlpatterns = [
    re_path(r"^ws/training/?$", TrainingStreamConsumer.as_asgi()),
    re_path(r"^ws/training/(?P<job_id>[^/]+)/?$", TrainingJobConsumer.as_asgi()),
]
