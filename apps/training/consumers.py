"""Training WebSockets.

- `/ws/training/{job_id}` (seed 000): `connected`, the job's current
  `training_status`, then its events — `training_status`, and seed 001's
  `train_progress`, `train_complete`, `train_failed`; `ping` → `pong`.
- `/ws/training`: the same events for every job the user may see (reading
  jobs is team-wide: every role with `training:read`), each carrying its
  `job_id`; `connected` on open.

Auth, close codes (4401, 4403, 4404 for an unknown or deleted job), error
frames, ping, periodic re-checks of the user's role and the bounded outbox
are the base consumer's (apps.core.consumers); frames name their kind under
`event`, as seed 000's. Payload types: apps.training.live.
"""

import uuid

from channels.db import database_sync_to_async

from apps.core.consumers import CLOSE_NOT_FOUND, HeimdallWebSocketConsumer
from apps.training.live import ALL_JOBS_GROUP, job_group, training_status


@database_sync_to_async
def _job_state(job_id):
    from apps.training.models import TrainingJob

    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    job = TrainingJob.objects.filter(pk=key).first()
    return training_status(job) if job else None


class _TrainingConsumer(HeimdallWebSocketConsumer):
    kind_key = "event"
    required_permission = "training:read"
    group: str

    async def closed(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def training_event(self, event):
        """A typed payload from apps.training.live (the role is re-checked periodically)."""
        self.send_frame(event["payload"], droppable=True)


class TrainingJobConsumer(_TrainingConsumer):
    """/ws/training/{job_id}."""

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


class TrainingStreamConsumer(_TrainingConsumer):
    """/ws/training: every job's events."""

    async def authorize(self):
        self.group = ALL_JOBS_GROUP
        await self.channel_layer.group_add(self.group, self.channel_name)
        return None

    async def opened(self):
        self.send_frame(
            {
                "event": "connected",
                "timestamp": self.now(),
                "message": "Connected to training events for every job",
            }
        )
