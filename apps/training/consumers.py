"""/ws/training/{job_id} (seed 000): `connected`, then `training_status` events; ping → pong.

Auth, close codes (4401, 4403, 4404 for an unknown job), error frames,
ping, re-checks and the bounded outbox are the base consumer's
(apps.core.consumers); frames name their kind under `event`, as seed 000's.
"""

import uuid

from channels.db import database_sync_to_async

from apps.core.consumers import CLOSE_NOT_FOUND, HeimdallWebSocketConsumer
from apps.training.live import job_group, training_status


@database_sync_to_async
def _job_state(job_id):
    from apps.training.models import TrainingJob

    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    job = TrainingJob.objects.filter(pk=key).first()
    return training_status(job) if job else None


class TrainingJobConsumer(HeimdallWebSocketConsumer):
    kind_key = "event"
    required_permission = "training:read"

    async def authorize(self):
        self.job_id = self.scope["url_route"]["kwargs"]["job_id"]
        self._state = await _job_state(self.job_id)
        if self._state is None:
            return CLOSE_NOT_FOUND
        self.group = job_group(self.job_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        return None

    async def opened(self):
        self.send_frame(
            {
                "event": "connected",
                "job_id": self.job_id,
                "timestamp": self.now(),
                "message": "Connected to training job",
            }
        )
        self.send_frame(self._state)  # a late client is never blank

    async def still_allowed(self):
        from apps.training.models import TrainingJob

        exists = await database_sync_to_async(
            lambda: TrainingJob.objects.filter(pk=self.job_id).exists()
        )()
        return None if exists else CLOSE_NOT_FOUND  # the job was deleted

    async def closed(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def training_status(self, event):
        self.send_frame(event["payload"], droppable=True)
