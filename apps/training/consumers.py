"""/ws/training/{job_id} (seed 000): `connected`, then `training_status` events; ping → pong."""

import json
import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from apps.accounts.roles import has_permission
from apps.core.exceptions import envelope
from apps.core.timeutil import isoformat_z, utc_now
from apps.core.websocket_outages import OutageGuardMixin
from apps.training.live import job_group, training_status

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


@database_sync_to_async
def _job_state(job_id):
    from apps.training.models import TrainingJob

    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    job = TrainingJob.objects.filter(pk=key).first()
    return training_status(job) if job else None


class TrainingJobConsumer(OutageGuardMixin, AsyncWebsocketConsumer):
    error_frame_key = "event"

    async def connect(self):
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await database_sync_to_async(has_permission)(user, "training:read"):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.job_id = self.scope["url_route"]["kwargs"]["job_id"]
        state = await _job_state(self.job_id)
        if state is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = job_group(self.job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self._send_json(
            {
                "event": "connected",
                "job_id": self.job_id,
                "timestamp": isoformat_z(utc_now()),
                "message": "Connected to training job",
            }
        )
        await self._send_json(state)  # a late client is never blank

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def _send_json(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload))

    async def receive(self, text_data=None, bytes_data=None):
        try:
            message = json.loads(text_data) if text_data is not None else None
        except ValueError:
            message = None
        if isinstance(message, dict) and message.get("event") == "ping":
            await self._send_json({"event": "pong", "timestamp": isoformat_z(utc_now())})
            return
        await self._send_json(
            {
                "event": "error",
                **envelope(
                    "VALIDATION_ERROR",
                    'Send {"event": "ping"}; nothing else is accepted.',
                    {"field": "event", "constraint": "must be ping"},
                ),
            }
        )

    async def training_status(self, event):
        await self._send_json(event["payload"])
