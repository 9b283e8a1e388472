from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.stations.validators import (
    validate_api_config,
    validate_receiver_url,
    validate_station_id,
)


def default_api_config() -> dict:
    return {"api_type": "simulated", "poll_interval": 1.0, "timeout": 30}


class Station(models.Model):
    """A WebSDR receiver Heimdall listens through (seed 004 WebSDRStation)."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        INACTIVE = "inactive"
        MAINTENANCE = "maintenance"
        ERROR = "error"

    class Connection(models.TextChoices):
        CONNECTED = "connected"
        CONNECTING = "connecting"
        DISCONNECTED = "disconnected"
        ERROR = "error"

    id = models.CharField(primary_key=True, max_length=64, validators=[validate_station_id])
    name = models.CharField(max_length=255)
    url = models.URLField(max_length=500, validators=[validate_receiver_url])
    location = models.CharField(max_length=255, blank=True)
    latitude = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.FloatField(validators=[MinValueValidator(-180), MaxValueValidator(180)])
    frequency_min = models.BigIntegerField(validators=[MinValueValidator(0)])
    frequency_max = models.BigIntegerField(validators=[MinValueValidator(1)])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    api_config = models.JSONField(default=default_api_config, validators=[validate_api_config])
    # What the station reads above the truth, in dB: strengths it reports (its own dBFS or
    # dBm) minus this are comparable across stations (docs/localization.md). Admin-set, or
    # estimated from reference transmitters.
    calibration_offset_db = models.FloatField(
        default=0.0, validators=[MinValueValidator(-100), MaxValueValidator(100)]
    )

    # Live state, kept current by the station's collector.
    last_seen = models.DateTimeField(null=True, blank=True)
    connection_status = models.CharField(
        max_length=16, choices=Connection.choices, default=Connection.DISCONNECTED
    )
    response_time_ms = models.FloatField(null=True, blank=True)
    current_listeners = models.IntegerField(null=True, blank=True)
    signal_quality = models.FloatField(null=True, blank=True)
    current_frequency = models.BigIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status"], name="station_status_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(frequency_max__gt=models.F("frequency_min")),
                name="station_frequency_range_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class StationCheck(models.Model):
    """One poll of a station by its collector: the source of uptime and response time."""

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="checks")
    checked_at = models.DateTimeField()
    ok = models.BooleanField()
    response_time_ms = models.FloatField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-checked_at"]
        indexes = [models.Index(fields=["station", "checked_at"], name="stationcheck_station_time")]

    def __str__(self) -> str:
        return f"{self.station_id} @ {self.checked_at:%Y-%m-%d %H:%M:%S} ok={self.ok}"
