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


class ApiKey(models.Model):
    """A long-lived credential for scripts, notebooks and the SDKs (`hmd_` + 43 random chars).

    Only the SHA-256 of the key is stored (the key is 256 random bits: no
    dictionary to try, so a slow hash would add nothing). The key acts as its
    creator with `role`, which is never more than the creator's own role.
    Revoking sets `revoked_at`; the row stays for the audit trail.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16)
    prefix = models.CharField(
        max_length=16, help_text="The key's first characters, to tell keys apart."
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "name"],
                condition=models.Q(revoked_at__isnull=True),
                name="accounts_apikey_active_name_unique",
            )
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="accounts_apikey_user_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
