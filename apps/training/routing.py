from django.urls import re_path

from apps.training.consumers import TrainingJobConsumer

websocket_urlpatterns = [
    re_path(r"^ws/training/(?P<job_id>[^/]+)/?$", TrainingJobConsumer.as_asgi()),
]
