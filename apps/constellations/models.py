import uuid

from django.conf import settings
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class Constellation(models.Model):
    """A group of stations used together to locate transmitters, owned and shareable."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="constellations"
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        permissions = [("share_constellation", "Can share constellation")]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="constellation_name_per_owner")
        ]
        indexes = [models.Index(fields=["-created_at", "id"], name="constellation_created_idx")]

    def __str__(self) -> str:
        return self.name


class ConstellationMember(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    constellation = models.ForeignKey(
        Constellation, on_delete=models.CASCADE, related_name="members"
    )
    station = models.ForeignKey(
        "stations.Station", on_delete=models.CASCADE, related_name="constellation_memberships"
    )
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["constellation", "station"], name="constellation_member_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.station_id} in {self.constellation_id}"


class ConstellationShare(models.Model):
    class Permission(models.TextChoices):
        READ = "read"
        EDIT = "edit"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    constellation = models.ForeignKey(
        Constellation, on_delete=models.CASCADE, related_name="shares"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="constellation_shares"
    )
    permission = models.CharField(max_length=8, choices=Permission.choices)
    shared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    shared_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shared_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["constellation", "user"], name="constellation_share_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.constellation_id} → {self.user_id} ({self.permission})"


# Direct-foreign-key object permissions (django-guardian): they cascade with the
# constellation and with the user, so no permission row outlives either, and
# the "visible to user" filter is an indexed id subquery.
class ConstellationUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Constellation, on_delete=models.CASCADE)


class ConstellationGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Constellation, on_delete=models.CASCADE)
