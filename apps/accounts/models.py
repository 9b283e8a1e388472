import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A Heimdall user. Ids are UUIDs, as the API exposes them (seed 004 `user_id`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    display_name = models.CharField(max_length=255, blank=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["username"]

    def get_display_name(self) -> str:
        return self.display_name or self.get_full_name() or self.username
