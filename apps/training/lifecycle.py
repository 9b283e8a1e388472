"""The one writer of a training job's lifecycle, and of a dataset's generation state.

A job's `status`, `step`, `message`, `progress_percent`, `heartbeat_at`,
`worker`, `error_message`, `started_at`, `completed_at`, task id and resume
counters are written here and nowhere else (tests/training/test_lifecycle.py
reads the source to keep it so). The shape is NetBox's JobRunner
(netbox/netbox/jobs.py): a job is queued (`job_enqueue`), a worker claims it
(`JobRunner.claim`), `JobRunner.run(work)` runs the work — which reports
steps, epochs and checkpoints through the runner — and terminates the job
with a status and the error:

    pending ─► queued ─► running ─► completed
                 ▲  │       │  └──► failed      (error_message says why)
                 │  └───────┴─────► cancelled   (cancel or delete; seen within one batch)
                 └── running, worker lost, resumes left (resume_count + 1)

Every change is published after its commit as typed events (apps.training.live).
When the job trains a registry model (POST /api/v1/models/train), a failed or
cancelled job fails the model with the reason (apps.ml.services).
"""

import contextlib
import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from apps.core.tasks import dispatch
from apps.core.timeutil import utc_now
from apps.training import live
from apps.training.models import SyntheticDataset, TrainingJob

logger = logging.getLogger(__name__)

Status, Step = TrainingJob.Status, TrainingJob.Step
TERMINAL = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
# Written only here.
LIFECYCLE_FIELDS = frozenset(
    {
        "status",
        "step",
        "message",
        "progress_percent",
        "heartbeat_at",
        "worker",
        "error_message",
        "started_at",
        "completed_at",
        "celery_task_id",
        "resume_count",
        "resumed_from_epoch",
    }
)
HEARTBEAT_SECONDS = 5.0
RUN_TASK = "apps.training.tasks.run_training_job"


class JobCancelled(Exception):
    """Raised inside the work when the job was cancelled (or deleted) while it ran."""


class NoGpu(Exception):
    pass


# How allocators say it: numpy's MemoryError, torch's CUDA OutOfMemoryError ("CUDA out of
# memory"), torch's CPU allocator ("DefaultCPUAllocator: can't allocate memory").
OUT_OF_MEMORY_SIGNS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def failure_message(exc: BaseException) -> str:
    """A failed job's error_message; running out of memory is said first, in one way."""
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, MemoryError) or any(sign in text.lower() for sign in OUT_OF_MEMORY_SIGNS):
        return f"Out of memory: {text}"
    return text


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _publish(job_id, *builders) -> None:
    job = TrainingJob.objects.filter(pk=job_id).first()
    if job is not None:
        live.publish(job, *(build(job) for build in builders))


# --- queueing, cancelling, deleting (web side) -----------------------------------------


def job_enqueue(*, job: TrainingJob, message: str = "Queued") -> None:
    """pending → queued; its task goes to the training cluster after commit."""
    TrainingJob.objects.filter(pk=job.pk).update(
        status=Status.QUEUED, celery_task_id=str(uuid.uuid4()), message=message
    )
    dispatch(RUN_TASK, str(job.pk), cluster="training")
    _publish(job.pk, live.training_status)


@transaction.atomic
def job_cancel(*, job: TrainingJob) -> TrainingJob:
    """Stop a job and keep its data. A queued job ends here; a running one ends in its
    worker, which sees the status within one batch."""
    from apps.core.exceptions import Conflict

    locked = TrainingJob.objects.select_for_update().get(pk=job.pk)
    if locked.status in TERMINAL:
        raise Conflict(f"The job is already {locked.status}.", {"status": locked.status})
    if locked.status in (Status.PENDING, Status.QUEUED):  # no worker will finish it
        TrainingJob.objects.filter(pk=job.pk).update(
            status=Status.CANCELLED, message="Cancelled", completed_at=utc_now()
        )
        _fail_model(locked, "the training job was cancelled")
        _publish(job.pk, live.training_status, live.train_failed)
    else:
        TrainingJob.objects.filter(pk=job.pk).update(status=Status.CANCELLED, message="Cancelling")
        _publish(job.pk, live.training_status)
    locked.refresh_from_db()
    return locked


@transaction.atomic
def job_delete(*, job: TrainingJob) -> None:
    """Cancel (a running worker notices the row is gone) and delete the job and metrics."""
    locked = TrainingJob.objects.select_for_update().get(pk=job.pk)
    if locked.status not in TERMINAL:
        TrainingJob.objects.filter(pk=job.pk).update(status=Status.CANCELLED)
        _fail_model(locked, "the training job was deleted")
    checkpoint = locked.resume_checkpoint
    locked.delete()
    if checkpoint:
        transaction.on_commit(lambda: _delete_file(checkpoint), robust=True)


def _delete_file(path: str) -> None:
    from django.core.files.storage import default_storage

    if default_storage.exists(path):
        default_storage.delete(path)


def _fail_model(job: TrainingJob, reason: str) -> None:
    """The registry model the job was training becomes `failed` with the reason."""
    if not job.ml_model_id:
        return
    from apps.core.exceptions import Conflict
    from apps.ml.models import MLModel
    from apps.ml.services import model_training_failed

    model = MLModel.objects.filter(pk=job.ml_model_id).first()
    if model is None:
        return
    with contextlib.suppress(Conflict):  # no longer training (an admin moved it)
        model_training_failed(model=model, reason=reason)


# --- running (worker side) -------------------------------------------------------------


def gpu_count() -> int:
    """GPUs torch can use in this process (torch imported only when asked)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class JobRunner:
    """A claimed job in its worker: the work reports through it; it writes the row."""

    def __init__(self, job: TrainingJob):
        self.job = job
        self.job_id = job.pk

    @classmethod
    def claim(cls, job_id) -> "JobRunner | None":
        """queued → running in this worker, or None (cancelled, deleted or taken)."""
        now = utc_now()
        job = TrainingJob.objects.filter(pk=job_id).first()
        if job is None:
            return None
        resumed = job.checkpoint_epoch if job.resume_count and job.resume_checkpoint else None
        claimed = TrainingJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
            status=Status.RUNNING,
            started_at=Coalesce(F("started_at"), Value(now)),
            heartbeat_at=now,
            worker=this_worker(),
            step=Step.INITIALIZING,
            message=f"Resuming from epoch {resumed}" if resumed else "Initializing",
            resumed_from_epoch=resumed if resumed is not None else F("resumed_from_epoch"),
        )
        if not claimed:
            return None
        _publish(job_id, live.training_status, live.train_progress)
        return cls(TrainingJob.objects.get(pk=job_id))

    # Reports from the work.

    def step(self, step: str, progress: float, message: str) -> None:
        TrainingJob.objects.filter(pk=self.job_id).update(
            step=step, progress_percent=progress, message=message
        )
        _publish(self.job_id, live.training_status, live.train_progress)

    def note(self, message: str) -> None:
        TrainingJob.objects.filter(pk=self.job_id).update(message=message)

    def record(self, **fields) -> None:
        """Fields of the job's results (sizes, metrics, paths, dataset): not its lifecycle."""
        assert not LIFECYCLE_FIELDS & set(fields), LIFECYCLE_FIELDS & set(fields)
        TrainingJob.objects.filter(pk=self.job_id).update(**fields)

    def epoch(self, *, epoch: int, progress: float, message: str, **results) -> None:
        """An epoch ended: its losses and accuracies, progress and message, published."""
        assert not LIFECYCLE_FIELDS & set(results)
        TrainingJob.objects.filter(pk=self.job_id).update(
            current_epoch=epoch,
            step=Step.TRAINING,
            progress_percent=progress,
            message=message,
            **results,
        )
        _publish(self.job_id, live.training_status, live.train_progress)

    def checkpoint(self, *, path: str, epoch: int) -> None:
        TrainingJob.objects.filter(pk=self.job_id).update(
            resume_checkpoint=path, checkpoint_epoch=epoch
        )

    # The wrapper.

    def run(self, work) -> str:
        """Run `work(job, runner, watch) -> final message | None`; terminate the job with
        what happened. Returns the final status (or "skipped")."""
        job = self.job
        if job.config.get("accelerator") == "gpu" and gpu_count() == 0:
            return self.terminate(
                Status.FAILED,
                error="accelerator 'gpu': the training worker that took this job has no GPU "
                "(torch sees none); run a trainer on a GPU host, or use 'cpu'",
            )
        try:
            with JobWatch(self.job_id) as watch:
                final = work(job, self, watch)
        except JobCancelled:
            return self.terminate(Status.CANCELLED)
        except Exception as exc:  # NaN loss, out of memory, bad data: the job says why
            if not TrainingJob.objects.filter(pk=self.job_id).exists():
                return Status.CANCELLED  # deleted while running: nothing left to write
            logger.exception("training job %s failed", self.job_id)
            return self.terminate(Status.FAILED, error=failure_message(exc))
        return self.terminate(Status.COMPLETED, message=final or "Done")

    def terminate(self, status: str, *, error: str = "", message: str = "") -> str:
        """End the job: completed (with `message`), failed (with `error`) or cancelled. The
        resume checkpoint is dropped in the same write (and its file removed after)."""
        now = utc_now()
        jobs = TrainingJob.objects.filter(pk=self.job_id)
        checkpoint = jobs.values_list("resume_checkpoint", flat=True).first()
        if status == Status.COMPLETED:
            changed = jobs.filter(status=Status.RUNNING).update(
                status=Status.COMPLETED,
                step=Step.DONE,
                progress_percent=100.0,
                message=message[:500],
                completed_at=now,
                resume_checkpoint="",
            )
            if not changed:  # cancelled while exporting
                return self.terminate(Status.CANCELLED)
            _publish(self.job_id, live.training_status, live.train_progress, live.train_complete)
        elif status == Status.FAILED:
            jobs.exclude(status=Status.CANCELLED).update(
                status=Status.FAILED,
                error_message=error[:5000],
                message="Failed",
                completed_at=now,
                resume_checkpoint="",
            )
            _fail_model(self.job, error)
            _publish(self.job_id, live.training_status, live.train_failed)
        else:
            jobs.update(
                status=Status.CANCELLED, message="Cancelled", completed_at=now, resume_checkpoint=""
            )
            _fail_model(self.job, "the training job was cancelled")
            _publish(self.job_id, live.training_status, live.train_failed)
        if checkpoint:
            _delete_file(checkpoint)
        return status


def job_heartbeat(job_id) -> None:
    TrainingJob.objects.filter(pk=job_id).update(heartbeat_at=utc_now())


class JobWatch:
    """A thread beside a running job: heartbeats, and cancellation noticed without a
    query per batch (the training loop only reads an Event)."""

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

    def check(self) -> None:
        """Raise JobCancelled if the job was cancelled or deleted (call between batches)."""
        if self.cancelled.is_set():
            raise JobCancelled()

    def _run(self) -> None:
        last_beat = 0.0
        elapsed = 0.0
        seen = False
        try:
            while not self._stop.wait(self.poll_seconds):
                elapsed += self.poll_seconds
                status = (
                    TrainingJob.objects.filter(pk=self.job_id)
                    .values_list("status", flat=True)
                    .first()
                )
                # Cancelled, or deleted (DELETE cancels and removes the row) after
                # having been seen: the row can be invisible to this thread's own
                # connection while the job's transaction is open (tests).
                if status == Status.CANCELLED or (seen and status is None):
                    self.cancelled.set()
                seen = seen or status is not None
                if elapsed - last_beat >= HEARTBEAT_SECONDS:
                    job_heartbeat(self.job_id)
                    last_beat = elapsed
        except Exception:
            logger.exception("job watch for %s stopped", self.job_id)
        finally:
            connection.close()


# --- lost workers ------------------------------------------------------------------------


def job_worker_lost(*, job_ids, reason: str) -> int:
    """Running jobs whose worker died: queued again to resume from their last epoch's
    checkpoint while resumes are left (HEIMDALL_TRAINING_MAX_RESUMES), else failed with
    `reason`. Returns how many jobs were handled."""
    handled = 0
    limit = settings.HEIMDALL_TRAINING_MAX_RESUMES
    for job_id in job_ids:
        with transaction.atomic():
            job = (
                TrainingJob.objects.select_for_update()
                .filter(pk=job_id, status=Status.RUNNING)
                .first()
            )
            if job is None:
                continue
            handled += 1
            if job.resume_count < limit:
                start = job.checkpoint_epoch if job.resume_checkpoint else 0
                TrainingJob.objects.filter(pk=job_id).update(
                    status=Status.QUEUED,
                    celery_task_id=str(uuid.uuid4()),
                    resume_count=F("resume_count") + 1,
                    worker="",
                    message=f"Worker lost at epoch {job.current_epoch}; resuming from epoch "
                    f"{start} ({job.resume_count + 1} of {limit} resumes)",
                )
                logger.warning("training job %s: %s; resuming from epoch %s", job_id, reason, start)
                dispatch(RUN_TASK, str(job_id), cluster="training")
                _publish(job_id, live.training_status)
                continue
            suffix = f" (after {job.resume_count} resumes)" if job.resume_count else ""
            TrainingJob.objects.filter(pk=job_id).update(
                status=Status.FAILED,
                message="Failed: worker lost",
                error_message=f"{reason}{suffix}",
                completed_at=utc_now(),
            )
            logger.error("training job %s: %s", job_id, reason)
            _fail_model(job, f"{reason}{suffix}")
            _publish(job_id, live.training_status, live.train_failed)
    return handled


# --- datasets ------------------------------------------------------------------------------


# A generating dataset without progress for this long has lost its worker (killed, out of
# memory, a deploy): it may be deleted, and the periodic `training.fail_stale_datasets`
# fails it. Progress comes at least every 5 % of the samples (every clip of a recordings
# dataset): minutes apart at the very most.
DATASET_STALE_AFTER = timedelta(minutes=30)


def dataset_claim(dataset_id) -> bool:
    """pending → generating; False when deleted or already taken (tasks are idempotent)."""
    return bool(
        SyntheticDataset.objects.filter(
            pk=dataset_id, status=SyntheticDataset.Status.PENDING
        ).update(
            status=SyntheticDataset.Status.GENERATING,
            message="Generating",
            progress_percent=0,
            heartbeat_at=utc_now(),
        )
    )


def dataset_progress(dataset_id, *, done: int, total: int) -> None:
    SyntheticDataset.objects.filter(pk=dataset_id).update(
        samples_generated=done,
        progress_percent=round(100.0 * done / total, 1),
        message=f"Generated {done} of {total} samples",
        heartbeat_at=utc_now(),
    )


def dataset_is_generating(dataset: SyntheticDataset, now=None) -> bool:
    """Generating, with progress within DATASET_STALE_AFTER (a stale one lost its worker:
    it blocks nothing)."""
    if dataset.status != SyntheticDataset.Status.GENERATING:
        return False
    beat = dataset.heartbeat_at  # None: from before heartbeats were kept
    return beat is not None and beat >= (now or utc_now()) - DATASET_STALE_AFTER


def datasets_fail_stale(*, now=None) -> int:
    """Periodic: generating datasets without progress for DATASET_STALE_AFTER are failed
    (their worker died; they stayed `generating`, undeletable, for ever); how many."""
    cutoff = (now or utc_now()) - DATASET_STALE_AFTER
    minutes = int(DATASET_STALE_AFTER.total_seconds() // 60)
    return SyntheticDataset.objects.filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True),
        status=SyntheticDataset.Status.GENERATING,
    ).update(
        status=SyntheticDataset.Status.FAILED,
        error_message=f"worker lost: no progress for {minutes} minutes",
        message="Failed",
        completed_at=utc_now(),
    )


def dataset_failed(dataset_id, *, error: str) -> None:
    SyntheticDataset.objects.filter(pk=dataset_id).update(
        status=SyntheticDataset.Status.FAILED,
        error_message=error[:2000],
        message="Failed",
        completed_at=utc_now(),
    )


def dataset_ready(dataset_id, *, statistics: dict, artifact_path: str, artifact_sha256: str,
                  num_samples: int | None = None):  # fmt: skip
    """generating → ready; `num_samples`: the count made when it was not known beforehand
    (a recordings dataset: segments of the selected clips)."""
    counted = {} if num_samples is None else {"num_samples": num_samples}
    SyntheticDataset.objects.filter(pk=dataset_id).update(
        status=SyntheticDataset.Status.READY,
        statistics=statistics,
        progress_percent=100.0,
        samples_generated=F("num_samples") if num_samples is None else num_samples,
        **counted,
        message="Ready",
        artifact_path=artifact_path,
        artifact_sha256=artifact_sha256,
        completed_at=utc_now(),
    )
