"""Statistics over detections, computed by SQL aggregation (seed 004 /statistics/...)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    F,
    FloatField,
    Func,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Least

from apps.anomalies.models import AnomalyEvent
from apps.core.bands import ITU_BAND_NAMES, ITU_BANDS
from apps.core.timeutil import isoformat_z
from apps.signals.models import SignalDetection
from apps.stations.models import Station, StationCheck

TIME_PERIODS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
GRANULARITIES = {
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3600,
    "6h": 21600,
    "1d": 86400,
}
MAX_FREQUENCY_BINS = 1000
MAX_TIME_BUCKETS = 2000
POPULAR_FREQUENCIES = 10


class TimeBucket(Func):
    """Start of the `seconds`-wide UTC bucket holding the expression's time."""

    def __init__(self, expression, seconds: int):
        from django.db.models import DateTimeField

        self.seconds = int(seconds)
        super().__init__(expression, output_field=DateTimeField())

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"date_bin(INTERVAL '{self.seconds} seconds', {sql}, TIMESTAMPTZ '1970-01-01')",
            params,
        )

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        n = self.seconds
        return (
            f"datetime((CAST(strftime('%%s', {sql}) AS INTEGER) / {n}) * {n}, 'unixepoch')",
            params,
        )


def _itu_band_case():
    return Case(
        *[
            When(frequency_hz__gte=low, frequency_hz__lt=high, then=Value(name))
            for name, low, high in ITU_BANDS
        ],
        default=Value("other"),  # none: the bands cover 0 Hz to MAX_FREQUENCY_HZ
    )


def statistics_summary(*, time_period: str, now: datetime) -> dict:
    """Seed 004's summary. Every `by_*` breakdown has a fixed set of keys, zero when
    empty: `by_frequency_band` every ITU band up to 300 GHz (elf ... ehf, in
    frequency order), `by_severity` the four severities, `by_station` every
    registered station (most detections first, then by id)."""
    since = now - TIME_PERIODS[time_period]
    window = Q(detection_timestamp__gte=since, detection_timestamp__lte=now)
    processing_time = Cast(
        KeyTextTransform("processing_time_ms", "processing_metadata"), FloatField()
    )
    groups = (
        SignalDetection.objects.filter(window)
        .values("websdr_station_id", band=_itu_band_case())
        .annotate(
            n=Count("id"),
            processing_sum=Sum(processing_time),
            processing_n=Count(processing_time),
        )
        .order_by()
    )
    total = 0
    by_station: dict[str, int] = dict.fromkeys(Station.objects.values_list("id", flat=True), 0)
    by_band: dict[str, int] = dict.fromkeys(ITU_BAND_NAMES, 0)
    processing_sum, processing_n = 0.0, 0
    for group in groups:
        total += group["n"]
        by_station[group["websdr_station_id"]] = (
            by_station.get(group["websdr_station_id"], 0) + group["n"]
        )
        by_band[group["band"]] = by_band.get(group["band"], 0) + group["n"]
        processing_sum += group["processing_sum"] or 0.0
        processing_n += group["processing_n"]

    severities = dict(
        AnomalyEvent.objects.filter(window)
        .values_list("severity")
        .annotate(n=Count("id"))
        .order_by()
    )
    anomalies_total = sum(severities.values())
    checks = StationCheck.objects.filter(checked_at__gte=since, checked_at__lte=now).aggregate(
        n_checks=Count("id"), n_ok=Count("id", filter=Q(ok=True))
    )
    stations = Station.objects.aggregate(
        total=Count("id"), active=Count("id", filter=Q(status=Station.Status.ACTIVE))
    )
    return {
        "time_period": time_period,
        "generated_at": isoformat_z(now),
        "signal_detections": {
            "total": total,
            "by_station": dict(sorted(by_station.items(), key=lambda kv: (-kv[1], kv[0]))),
            "by_frequency_band": by_band,
        },
        "anomalies": {
            "total": anomalies_total,
            "by_severity": {
                name: severities.get(name, 0) for name in ("critical", "high", "medium", "low")
            },
            "detection_rate": round(anomalies_total / total, 6) if total else 0.0,
        },
        "system_health": {
            "uptime_percentage": (
                round(100.0 * checks["n_ok"] / checks["n_checks"], 2)
                if checks["n_checks"]
                else None
            ),
            "average_processing_time_ms": round(processing_sum / processing_n, 1)
            if processing_n
            else None,
            "active_stations": stations["active"],
            "total_stations": stations["total"],
        },
    }


@dataclass(frozen=True)
class FrequencyUsageQuery:
    frequency_min: int
    frequency_max: int
    time_period: str
    granularity: str
    bin_width_hz: int

    @property
    def bin_count(self) -> int:
        span = self.frequency_max - self.frequency_min
        return max(1, -(-span // self.bin_width_hz))  # ceil; a zero span is one bin


def frequency_usage(*, query: FrequencyUsageQuery, now: datetime) -> dict:
    since = now - TIME_PERIODS[query.time_period]
    in_range = SignalDetection.objects.filter(
        detection_timestamp__gte=since,
        detection_timestamp__lte=now,
        frequency_hz__gte=query.frequency_min,
        frequency_hz__lte=query.frequency_max,
    )
    last_bin = query.bin_count - 1
    frequency_bin = Least(
        (F("frequency_hz") - Value(query.frequency_min)) / Value(query.bin_width_hz),
        Value(last_bin),
        output_field=BigIntegerField(),
    )
    cells = (
        in_range.annotate(
            bucket=TimeBucket("detection_timestamp", GRANULARITIES[query.granularity]),
            frequency_bin=frequency_bin,
        )
        .values("bucket", "frequency_bin")
        .annotate(
            signal_count=Count("id"),
            strength_sum=Sum("signal_strength_db"),
            anomaly_count=Count("id", filter=Q(is_anomaly=True)),
        )
        .order_by("bucket", "frequency_bin")
    )
    series: dict[str, list[dict]] = {}
    total = 0
    for cell in cells:
        start = query.frequency_min + cell["frequency_bin"] * query.bin_width_hz
        end = min(start + query.bin_width_hz, query.frequency_max)
        total += cell["signal_count"]
        series.setdefault(isoformat_z(cell["bucket"]), []).append(
            {
                "frequency_start": start,
                "frequency_end": end,
                "signal_count": cell["signal_count"],
                "average_strength": round(cell["strength_sum"] / cell["signal_count"], 2),
                "anomaly_count": cell["anomaly_count"],
            }
        )
    popular = (
        in_range.values("frequency_hz")
        .annotate(signal_count=Count("id"))
        .order_by("-signal_count", "frequency_hz")[:POPULAR_FREQUENCIES]
    )
    return {
        "frequency_range": [query.frequency_min, query.frequency_max],
        "time_period": query.time_period,
        "granularity": query.granularity,
        "bin_width_hz": query.bin_width_hz,
        "total_signals": total,
        "data": [{"timestamp": ts, "frequency_bins": bins} for ts, bins in series.items()],
        "popular_frequencies": [
            {
                "frequency": row["frequency_hz"],
                "signal_count": row["signal_count"],
                "percentage": round(100.0 * row["signal_count"] / total, 2) if total else 0.0,
            }
            for row in popular
        ],
    }


def detection_counts_over_time(
    *, since: datetime, until: datetime, bucket_seconds: int, station_id: str | None = None
) -> list[dict]:
    """Detections (and anomalous ones) per `bucket_seconds`-wide UTC bucket in [since, until).

    Every bucket of the window is present, empty ones with zeros, oldest first:
    `[{"timestamp": "...Z", "unix": 1700000000, "count": n, "anomalies": k}, ...]`.
    One grouped query on the time index (the station's index with `station_id`).
    Used by the console's overview (1 h by minute) and station page (24 h by hour).
    """
    window = SignalDetection.objects.filter(
        detection_timestamp__gte=since, detection_timestamp__lt=until
    )
    if station_id is not None:
        window = window.filter(websdr_station_id=station_id)
    rows = (
        window.annotate(bucket=TimeBucket("detection_timestamp", bucket_seconds))
        .values("bucket")
        .annotate(n=Count("id"), anomalies=Count("id", filter=Q(is_anomaly=True)))
        .order_by("bucket")
    )
    found = {int(row["bucket"].timestamp()): row for row in rows}
    start = int(since.timestamp()) // bucket_seconds * bucket_seconds
    series = []
    for unix in range(start, int(until.timestamp()), bucket_seconds):
        row = found.get(unix)
        series.append(
            {
                "timestamp": isoformat_z(datetime.fromtimestamp(unix, tz=since.tzinfo)),
                "unix": unix,
                "count": row["n"] if row else 0,
                "anomalies": row["anomalies"] if row else 0,
            }
        )
    return series
