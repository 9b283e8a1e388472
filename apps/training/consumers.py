"""Training WebSockets.

- `/ws/training/{job_id}` (seed 000): `connected`, the job's current
  `training_status`, then its events — `training_status`, and seed 001's
  `train_progress`, `train_complete`, `train_failed`; `ping` → `pong`.
- `/ws/training`: the same events for every job the user may see (reading
  jobs is team-wide: every role with `training:read`), each carrying its
  `job_id`; `connected` on open.

Close codes: 4401 no or bad credentials, 4403 a role without
`training:read`, 4404 no such job. Permission is checked again per event
(a user whose role was taken away stops receiving, and is closed with 4403).
Payload types: apps.training.live.
"""

import json
import time
import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from apps.accounts.roles import has_permission
from apps.core.events import remember_event_loop
from apps.core.exceptions import envelope
from apps.core.timeutil import isoformat_z, utc_now
from apps.core.websocket_outages import OutageGuardMixin
from apps.training.live import ALL_JOBS_GROUP, job_group, training_status

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
RECHECK_SECONDS = 5.0  # how often an event re-reads the user's role


@database_sync_to_async
def _job_state(job_id):
    from apps.training.models import TrainingJob

    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    job = TrainingJob.objects.filter(pk=key).first()
    return training_status(job) if job else None


@database_sync_to_async
def _may_read(user) -> bool:
    from django.contrib.auth import get_user_model

    fresh = get_user_model().objects.filter(pk=user.pk, is_active=True).first()
    return fresh is not None and has_permission(fresh, "training:read")


class _TrainingConsumer(OutageGuardMixin, AsyncWebsocketConsumer):
    """Auth, groups, ping/pong, error frames and per-event permission for both routes; an
    outage closes with 4503 or answers an error frame (apps.core.websocket_outages)."""

    error_frame_key = "event"

    groups_to_join: list[str]

    async def connect(self):
        remember_event_loop()  # embedded mode: events are sent from this loop
        await self.accept()
        self.user = self.scope.get("user")
        self.joined: list[str] = []
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(has_permission)(self.user, "training:read"):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.checked_at = time.monotonic()
        await self.opened()

    async def opened(self):  # pragma: no cover - overridden
        raise NotImplementedError

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.append(group)

    async def disconnect(self, code):
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def send_json(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload))

    async def receive(self, text_data=None, bytes_data=None):
        try:
            message = json.loads(text_data) if text_data is not None else None
        except ValueError:
            message = None
        if isinstance(message, dict) and message.get("event") == "ping":
            await self.send_json({"event": "pong", "timestamp": isoformat_z(utc_now())})
            return
        await self.send_json(
            {
                "event": "error",
                **envelope(
                    "VALIDATION_ERROR",
                    'Send {"event": "ping"}; nothing else is accepted.',
                    {"field": "event", "constraint": "must be ping"},
                ),
            }
        )

    async def training_event(self, event):
        """A typed payload from apps.training.live, to this client if it may still read."""
        if time.monotonic() - self.checked_at > RECHECK_SECONDS:
            self.checked_at = time.monotonic()
            if not await _may_read(self.user):
                await self.close(code=CLOSE_FORBIDDEN)
                return
        await self.send_json(event["payload"])


class TrainingJobConsumer(_TrainingConsumer):
    """/ws/training/{job_id}."""

    async def opened(self):
        self.job_id = self.scope["url_route"]["kwargs"]["job_id"]
        state = await _job_state(self.job_id)
        if state is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.join(job_group(self.job_id))
        await self.send_json(
            {
                "event": "connected",
                "job_id": self.job_id,
                "timestamp": isoformat_z(utc_now()),
                "message": "Connected to training job",
            }
        )
        await self.send_json(state)  # a late client is never blank


class TrainingStreamConsumer(_TrainingConsumer):
    """/ws/training: every job's events."""

    async def opened(self):
        await self.join(ALL_JOBS_GROUP)
        await self.send_json(
            {
                "event": "connected",
                "timestamp": isoformat_z(utc_now()),
                "message": "Connected to training events for every job",
            }
        )
