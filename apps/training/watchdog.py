"""Training workers: their slots, and jobs whose worker died.

A running job records its worker ("host:pid") and a heartbeat every few
seconds (apps.training.lifecycle.JobWatch). Two checks find a lost worker:

- when django-q2 spawns a worker — at cluster start, and within a guard cycle
  (0.5 s) of replacing one that died, SIGKILL included — the new worker hands
  the jobs of dead processes on its own host to the lifecycle (`post_spawn`);
- a periodic task does the same for jobs whose heartbeat is older than
  STALE_AFTER, which covers a whole machine going away.

The lifecycle queues such a job again to resume from its last checkpoint, or
fails it with "worker lost" once its resumes are used up.

Each worker of the training cluster also registers a slot (TrainingWorker:
host, pid, the GPUs torch sees) and keeps it fresh from a small thread:
`GET /api/v1/training/status` lists the slots, and the web process accepts
`accelerator: "gpu"` when a live slot has a GPU.
"""

import logging
import os
import socket
import threading
from datetime import timedelta

from django.db import connection

from apps.core.timeutil import utc_now
from apps.training import lifecycle

logger = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=45)
LOST_MESSAGE = "worker lost: the process running this job died"
TRAINING_CLUSTER = "training"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def fail_jobs_of_dead_workers() -> int:
    """Running jobs on this host whose worker process no longer exists: resumed or failed.
    Slots of dead processes on this host are removed."""
    from apps.training.models import TrainingJob, TrainingWorker

    host = socket.gethostname()
    dead = [
        job_id
        for job_id, worker in TrainingJob.objects.filter(
            status=TrainingJob.Status.RUNNING, worker__startswith=f"{host}:"
        ).values_list("pk", "worker")
        if not _alive(int(worker.rsplit(":", 1)[1]))
    ]
    gone = [w.pk for w in TrainingWorker.objects.filter(host=host) if not _alive(w.pid)]
    TrainingWorker.objects.filter(pk__in=gone).delete()
    return lifecycle.job_worker_lost(job_ids=dead, reason=LOST_MESSAGE) if dead else 0


def fail_stale_jobs() -> int:
    """Running jobs that have not sent a heartbeat for STALE_AFTER (periodic task):
    resumed or failed. Slots not seen for STALE_AFTER are removed."""
    from django.db.models import Q

    from apps.training.models import TrainingJob, TrainingWorker

    cutoff = utc_now() - STALE_AFTER
    TrainingWorker.objects.filter(seen_at__lt=cutoff).delete()
    stale = list(
        TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))
        .values_list("pk", flat=True)
    )
    reason = f"worker lost: no heartbeat for {int(STALE_AFTER.total_seconds())} s"
    return lifecycle.job_worker_lost(job_ids=stale, reason=reason) if stale else 0


def _devices() -> list[str]:
    try:
        import torch

        if not torch.cuda.is_available():
            return []
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a broken driver is a worker without a GPU
        logger.exception("could not list GPUs")
        return []


def register_slot(cluster: str) -> None:
    """Record this worker process as a slot of `cluster`, with its GPUs."""
    from apps.training.models import TrainingWorker

    now = utc_now()
    devices = _devices()
    TrainingWorker.objects.update_or_create(
        pk=lifecycle.this_worker(),
        defaults={
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "cluster": cluster,
            "gpu_count": len(devices),
            "devices": devices,
            "started_at": now,
            "seen_at": now,
        },
    )


def _keep_slot_fresh(name: str, stop: threading.Event) -> None:
    from apps.training.models import TrainingWorker

    while not stop.wait(lifecycle.HEARTBEAT_SECONDS):
        try:
            TrainingWorker.objects.filter(pk=name).update(seen_at=utc_now())
        except Exception:
            logger.warning("could not refresh training slot %s", name, exc_info=True)
            connection.close()


def on_worker_spawned(sender, proc_name: str = "", **kwargs) -> None:
    """django-q2 post_spawn: a (re)started worker checks for its dead predecessors; a
    worker of the training cluster registers its slot."""
    from django_q.conf import Conf

    try:
        fail_jobs_of_dead_workers()
        if Conf.CLUSTER_NAME == TRAINING_CLUSTER:
            register_slot(Conf.CLUSTER_NAME)
            threading.Thread(
                target=_keep_slot_fresh,
                args=(lifecycle.this_worker(), threading.Event()),
                name="training-slot",
                daemon=True,
            ).start()
    except Exception:  # the worker must start even if the database is briefly away
        logger.exception("could not check for lost training jobs")
    finally:
        connection.close()  # the worker opens its own when it takes a task
