"""What the live feed carries: groups, message payloads, and the system status snapshot.

Groups (channel layer):
  live.detections.all / live.detections.<station>   batches of detections
  live.anomalies.all  / live.anomalies.<station>    batches of anomaly alerts
  live.system                                       system status snapshots
A subscriber to given stations joins those stations' groups; one with no
station filter joins `.all`. Other filters are applied by each consumer.
"""

import logging
import time
from collections import defaultdict

from django.core.cache import cache

from apps.core.events import Messages, publish_lazy, publish_many, send_now
from apps.core.timeutil import isoformat_z, utc_now

logger = logging.getLogger(__name__)

DETECTIONS_ALL = "live.detections.all"
ANOMALIES_ALL = "live.anomalies.all"
SYSTEM = "live.system"
BATCH = 500


# Whether any live client is connected, anywhere: a key in the shared cache that
# every connected client refreshes. Ingest skips building detection and anomaly
# payloads when nobody could receive them (that work competes with ingest
# itself: docs/performance.md). A client's first events may thus lag its
# connection by up to LISTENERS_RECHECK seconds in another process.
LISTENERS_KEY = "live:listeners"
LISTENERS_TTL = 90
LISTENERS_REFRESH = 30
LISTENERS_RECHECK = 1.0
_listening = {"checked_at": 0.0, "answer": False}


def anyone_listening() -> bool:
    now = time.monotonic()
    if now - _listening["checked_at"] > LISTENERS_RECHECK:
        try:
            answer = cache.get(LISTENERS_KEY) is not None
        except Exception:  # an unreachable cache must not silence the feed
            logger.warning("could not read the live listeners key", exc_info=True)
            answer = True
        _listening.update(checked_at=now, answer=answer)
    return _listening["answer"]


async def mark_listening() -> None:
    """A live client is connected (called on connect and every LISTENERS_REFRESH s)."""
    await cache.aset(LISTENERS_KEY, 1, LISTENERS_TTL)
    _listening.update(checked_at=time.monotonic(), answer=True)


def forget_listeners() -> None:
    """Tests: drop this process's remembered answer."""
    _listening.update(checked_at=0.0, answer=False)


def detections_group(station_id: str) -> str:
    return f"live.detections.{station_id}"


def anomalies_group(station_id: str) -> str:
    return f"live.anomalies.{station_id}"


def detection_payload(row: dict) -> dict:
    return {
        "id": str(row["id"]),
        "websdr_station_id": row["websdr_station_id"],
        "frequency_hz": row["frequency_hz"],
        "signal_strength_db": row["signal_strength_db"],
        "bandwidth_hz": row.get("bandwidth_hz"),
        "modulation_type": row.get("modulation_type") or "",
        "anomaly_score": row["anomaly_score"],
        "is_anomaly": bool(row["is_anomaly"]),
        "detection_timestamp": isoformat_z(row["detection_timestamp"]),
    }


def anomaly_payload(event) -> dict:
    return {
        "id": str(event.id),
        "detection_id": str(event.detection_id),
        "event_type": event.event_type,
        "severity": event.severity,
        "frequency_hz": event.frequency_hz,
        "station_id": event.station_id,
        "description": event.description,
        "anomaly_score": event.anomaly_score,
        "created_at": isoformat_z(event.created_at or utc_now()),
        # grouping: how many detections the event covers so far, and since when
        "detection_count": event.detection_count,
        "first_seen": isoformat_z(event.first_seen) if event.first_seen else None,
        "last_seen": isoformat_z(event.last_seen) if event.last_seen else None,
    }


def _batches(kind: str, all_group: str, group_for, items: list[dict], key: str) -> Messages:
    """Batches to the `.all` group and to each station's group."""
    by_station: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        by_station[item[key]].append(item)
    sent_at = isoformat_z(utc_now())

    def batches(group: str, group_items: list[dict]) -> Messages:
        return [
            (group, {"type": kind, "items": group_items[i : i + BATCH], "sent_at": sent_at})
            for i in range(0, len(group_items), BATCH)
        ]

    messages = batches(all_group, items)
    for station, station_items in by_station.items():
        messages += batches(group_for(station), station_items)
    return messages


def publish_detections(rows: list[dict]) -> None:
    """After commit: the stored detections to their live subscribers (not waited for)."""
    if not anyone_listening():
        return
    publish_lazy(
        lambda: _batches(
            "live.detections",
            DETECTIONS_ALL,
            detections_group,
            [detection_payload(row) for row in rows],
            "websdr_station_id",
        )
    )


def publish_anomalies(events) -> None:
    """After commit: the new anomaly events to their live subscribers (not waited for)."""
    if not anyone_listening():
        return
    publish_lazy(
        lambda: _batches(
            "live.anomalies",
            ANOMALIES_ALL,
            anomalies_group,
            [anomaly_payload(event) for event in events],
            "station_id",
        )
    )


def system_status_snapshot() -> dict:
    """Seed 004's system_status data: overall state, services, each station's status."""
    from apps.core.health import DEGRADED, HEALTHY, UNHEALTHY, run_check
    from apps.stations.models import Station

    services = {
        "websdr_collectors": run_check("websdr_collectors"),
        "signal_processor": run_check("task_queue"),
        "ml_detector": run_check("ml_detector"),
    }
    states = set(services.values())
    overall = UNHEALTHY if UNHEALTHY in states else DEGRADED if DEGRADED in states else HEALTHY
    return {
        "overall_status": overall,
        "services": services,
        "station_status": dict(Station.objects.order_by("id").values_list("id", "status")),
    }


def publish_system_status(*, after_commit: bool = True) -> None:
    messages = [(SYSTEM, {"type": "live.system", "data": system_status_snapshot()})]
    (publish_many if after_commit else send_now)(messages)
