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


class ReferenceTransmitter(models.Model):
    """A transmitter of known position (a beacon, a repeater) an admin maintains: its
    localizations calibrate the stations that hear it (docs/localization.md)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255, unique=True)
    latitude = models.FloatField()
    longitude = models.FloatField()
    frequency_hz = models.BigIntegerField()
    # Localizations within max(500 Hz, half this) of frequency_hz are its transmissions.
    bandwidth_hz = models.IntegerField(default=12_500)
    tx_power_dbm = models.FloatField(null=True, blank=True)  # null: estimated per transmission
    active = models.BooleanField(default=True)
    notes = models.TextField(blank=True, max_length=5000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["frequency_hz"], name="reftx_frequency_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.frequency_hz} Hz)"


class Localization(models.Model):
    """A transmitter position computed from a constellation's measurements, with its
    uncertainty (docs/localization.md). Never edited once stored."""

    class Method(models.TextChoices):
        MODEL = "model"
        WLS = "wls"

    class Trigger(models.TextChoices):
        REQUEST = "request"
        AUTO = "auto"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    constellation = models.ForeignKey(
        Constellation, on_delete=models.CASCADE, related_name="localizations"
    )
    frequency_hz = models.BigIntegerField()
    latitude = models.FloatField()
    longitude = models.FloatField()
    cep50_m = models.FloatField()
    cep95_m = models.FloatField()
    ellipse_semi_major_m = models.FloatField()
    ellipse_semi_minor_m = models.FloatField()
    ellipse_orientation_deg = models.FloatField()  # major axis, clockwise from north
    gdop = models.FloatField(null=True, blank=True)  # null: degenerate geometry
    method = models.CharField(max_length=8, choices=Method.choices)
    model_id = models.UUIDField(null=True, blank=True)  # the registry model (history kept)
    model_version = models.CharField(max_length=32, blank=True)
    tx_power_dbm = models.FloatField()
    tx_power_estimated = models.BooleanField()
    receivers_used = models.JSONField(default=list)  # station ids
    residuals_db = models.JSONField(default=dict)  # station id → measured − predicted (dB)
    # As received: station, its position and calibration offset then, the reported strength,
    # timestamp and detection id (what a posterior is redrawn from, and calibration reads).
    measurements = models.JSONField(default=list)
    warnings = models.JSONField(default=list)
    detection_ids = models.JSONField(default=list)
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    reference_transmitter = models.ForeignKey(
        ReferenceTransmitter,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="localizations",
    )
    # First and last detection of the transmission (auto: extended while it lasts).
    observed_from = models.DateTimeField(null=True, blank=True)
    observed_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="loc_created_idx"),
            models.Index(fields=["constellation", "-created_at"], name="loc_constellation_idx"),
            models.Index(
                fields=["constellation", "observed_until"],
                name="loc_auto_open_idx",
                condition=models.Q(trigger="auto"),
            ),
            models.Index(
                fields=["reference_transmitter", "-created_at"],
                name="loc_reference_idx",
                condition=models.Q(reference_transmitter__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.frequency_hz} Hz at {self.latitude:.4f}, {self.longitude:.4f}"


class AutoLocalizeBacklog(models.Model):
    """An automatic-localization task that could not be queued (the broker unreachable
    after the ingest's commit): the task's arguments, kept in the database so that a
    process restart does not lose them. apps.constellations.autolocalize.backlog_drain
    (periodic, in a worker) runs and deletes them."""

    stations = models.JSONField()  # member station ids of the batch
    spans = models.JSONField()  # [[start, end], ...] ISO 8601 times
    attempts = models.PositiveSmallIntegerField(default=0)  # failed runs so far
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"auto localization of {len(self.spans)} span(s), kept {self.created_at}"
