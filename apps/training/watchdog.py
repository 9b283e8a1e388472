"""Jobs whose worker died: found and failed with "worker lost", never left `running`.

A running job records its worker ("host:pid") and a heartbeat every few
seconds (JobWatch, in the worker). Two checks:

- when django-q2 spawns a worker — at cluster start, and within a guard cycle
  (0.5 s) of replacing one that died, SIGKILL included — the new worker fails
  the jobs of dead processes on its own host (`post_spawn`);
- a periodic task fails jobs whose heartbeat is older than STALE_AFTER, which
  covers a whole machine going away.
"""

import logging
import os
import socket
import threading
from datetime import timedelta

from django.db import connection

from apps.core.timeutil import utc_now

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
STALE_AFTER = timedelta(seconds=45)
LOST_MESSAGE = "worker lost: the process running this job died"


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _fail(job_ids: list, reason: str) -> int:
    from apps.training.live import publish_job
    from apps.training.models import TrainingJob

    failed = 0
    for job_id in job_ids:
        changed = TrainingJob.objects.filter(pk=job_id, status=TrainingJob.Status.RUNNING).update(
            status=TrainingJob.Status.FAILED,
            message="Failed: worker lost",
            error_message=reason,
            completed_at=utc_now(),
        )
        if changed:
            logger.error("training job %s: %s", job_id, reason)
            publish_job(job_id)
            failed += changed
    return failed


def fail_jobs_of_dead_workers() -> int:
    """Running jobs on this host whose worker process no longer exists."""
    from apps.training.models import TrainingJob

    host = socket.gethostname()
    dead = [
        job_id
        for job_id, worker in TrainingJob.objects.filter(
            status=TrainingJob.Status.RUNNING, worker__startswith=f"{host}:"
        ).values_list("pk", "worker")
        if not _alive(int(worker.rsplit(":", 1)[1]))
    ]
    return _fail(dead, LOST_MESSAGE) if dead else 0


def fail_stale_jobs() -> int:
    """Running jobs that have not sent a heartbeat for STALE_AFTER (periodic task)."""
    from django.db.models import Q

    from apps.training.models import TrainingJob

    cutoff = utc_now() - STALE_AFTER
    stale = list(
        TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))
        .values_list("pk", flat=True)
    )
    reason = f"worker lost: no heartbeat for {int(STALE_AFTER.total_seconds())} s"
    return _fail(stale, reason) if stale else 0


def on_worker_spawned(sender, proc_name: str = "", **kwargs) -> None:
    """django-q2 post_spawn: a (re)started worker checks for its dead predecessors."""
    try:
        fail_jobs_of_dead_workers()
    except Exception:  # the worker must start even if the database is briefly away
        logger.exception("could not check for lost training jobs")
    finally:
        connection.close()  # the worker opens its own when it takes a task


class JobWatch:
    """A thread beside a running job: heartbeats, and cancellation noticed without
    a query per batch (the training loop only reads an Event)."""

    def __init__(self, job_id, poll_seconds: float = 0.2):
        self.job_id = job_id
        self.poll_seconds = poll_seconds
        self.cancelled = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{job_id}", daemon=True)

    def __enter__(self) -> "JobWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        from apps.training.models import TrainingJob

        last_beat = 0.0
        elapsed = 0.0
        seen = False
        try:
            while not self._stop.wait(self.poll_seconds):
                elapsed += self.poll_seconds
                jobs = TrainingJob.objects.filter(pk=self.job_id)
                status = jobs.values_list("status", flat=True).first()
                # Cancelled, or deleted (DELETE cancels and removes the row) after
                # having been seen: the row can be invisible to this thread's own
                # connection while the job's transaction is open (tests).
                if status == TrainingJob.Status.CANCELLED or (seen and status is None):
                    self.cancelled.set()
                seen = seen or status is not None
                if elapsed - last_beat >= HEARTBEAT_SECONDS:
                    jobs.update(heartbeat_at=utc_now())
                    last_beat = elapsed
        except Exception:
            logger.exception("job watch for %s stopped", self.job_id)
        finally:
            connection.close()
