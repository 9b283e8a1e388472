"""/ws/training/{job_id} through the real ASGI stack on Redis."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import RefreshToken

from heimdall.asgi import application
from tests.helpers import make_user

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@database_sync_to_async
def setup_job():
    from apps.training.models import TrainingJob

    viewer = make_user("vera", "viewer")
    collector = make_user("collector-1", "collector")
    job = TrainingJob.objects.create(
        job_name="watched",
        config={"epochs": 5},
        total_epochs=5,
        model_architecture="deepsets",
        status="queued",
    )
    return (
        str(job.pk),
        str(RefreshToken.for_user(viewer).access_token),
        str(RefreshToken.for_user(collector).access_token),
    )


async def connect(path):
    communicator = WebsocketCommunicator(application, path)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive(communicator):
    return json.loads(await communicator.receive_from(timeout=5))


async def test_connected_then_current_state_then_updates():
    job_id, token, _ = await setup_job()
    ws = await connect(f"/ws/training/{job_id}?token={token}")
    connected = await receive(ws)
    assert connected["event"] == "connected"
    assert connected["job_id"] == job_id
    assert connected["message"] == "Connected to training job"
    state = await receive(ws)
    assert state["event"] == "training_status"
    assert (state["status"], state["current_epoch"], state["total_epochs"]) == ("queued", 0, 5)
    assert set(state["metrics"]) == {
        "train_loss",
        "val_loss",
        "train_accuracy",
        "val_accuracy",
        "learning_rate",
    }

    from apps.training.lifecycle import JobRunner
    from apps.training.models import TrainingJob

    def epoch_two():
        job = TrainingJob.objects.get(pk=job_id)
        JobRunner(job).epoch(epoch=2, train_loss=0.5, val_loss=0.6, progress=40.0,
                             message="Epoch 2/5")  # fmt: skip

    await database_sync_to_async(epoch_two)()
    update = await receive(ws)
    assert update["event"] == "training_status"
    assert update["current_epoch"] == 2
    assert update["metrics"]["val_loss"] == 0.6
    assert update["progress_percent"] == 40.0
    progress = await receive(ws)  # seed 001's event beside seed 000's
    assert progress == {"event": "train_progress", "type": "train_progress", "job_id": job_id,
                        "step": "training", "progress_pct": 40.0, "message": "Epoch 2/5",
                        "timestamp": progress["timestamp"]}  # fmt: skip

    await ws.send_to(json.dumps({"event": "ping"}))
    pong = await receive(ws)
    assert pong["event"] == "pong" and pong["timestamp"].endswith("Z")
    await ws.send_to("nonsense")
    error = await receive(ws)
    assert error["event"] == "error" and error["error"]["code"] == "VALIDATION_ERROR"
    await ws.disconnect()


async def test_auth_role_and_unknown_job_close_codes():
    job_id, _, collector_token = await setup_job()
    for path, code in [
        (f"/ws/training/{job_id}", 4401),
        (f"/ws/training/{job_id}?token=bad", 4401),
        (f"/ws/training/{job_id}?token={collector_token}", 4403),
    ]:
        ws = await connect(path)
        message = await ws.receive_output(timeout=5)
        assert (message["type"], message["code"]) == ("websocket.close", code)
    _, token, _ = await setup_job_other_user()
    ws = await connect(f"/ws/training/00000000-0000-0000-0000-000000000000?token={token}")
    message = await ws.receive_output(timeout=5)
    assert message["code"] == 4404


@database_sync_to_async
def setup_job_other_user():
    user = make_user("otto", "operator")
    return None, str(RefreshToken.for_user(user).access_token), None


@database_sync_to_async
def setup_two_jobs():
    from apps.training.models import TrainingJob

    viewer = make_user("vic", "viewer")
    jobs = [
        TrainingJob.objects.create(
            job_name=name,
            config={"epochs": 3},
            total_epochs=3,
            model_architecture="deepsets",
            status="running",
        )
        for name in ("a", "b")
    ]
    return [str(job.pk) for job in jobs], str(RefreshToken.for_user(viewer).access_token)


async def test_the_stream_carries_every_jobs_events():
    from apps.training.lifecycle import JobRunner
    from apps.training.models import TrainingJob

    (first, second), token = await setup_two_jobs()
    ws = await connect(f"/ws/training?token={token}")
    assert (await receive(ws))["event"] == "connected"

    def finish(job_id, fail: bool):
        runner = JobRunner(TrainingJob.objects.get(pk=job_id))
        runner.epoch(epoch=1, progress=33.0, message="Epoch 1/3", val_loss=0.5)
        if fail:
            runner.terminate("failed", error="Out of memory: CUDA out of memory")
        else:
            TrainingJob.objects.filter(pk=job_id).update(
                metrics={"model_id": "m-1", "accuracy": 0.9}
            )
            runner.terminate("completed", message="Done")

    await database_sync_to_async(finish)(first, False)
    await database_sync_to_async(finish)(second, True)
    events = [await receive(ws) for _ in range(9)]
    kinds = [(e["event"], e["job_id"]) for e in events]
    assert kinds == [
        ("training_status", first),
        ("train_progress", first),
        ("training_status", first),
        ("train_progress", first),
        ("train_complete", first),
        ("training_status", second),
        ("train_progress", second),
        ("training_status", second),
        ("train_failed", second),
    ]
    complete = events[4]
    assert (complete["type"], complete["model_id"], complete["metrics"]) == (
        "train_complete",
        "m-1",
        {"accuracy": 0.9},
    )
    failed = events[8]
    assert (failed["type"], failed["status"], failed["error"]) == (
        "train_failed",
        "failed",
        "Out of memory: CUDA out of memory",
    )
    await ws.disconnect()


async def test_the_stream_refuses_without_a_role():
    _, _, collector_token = await setup_job()
    for path, code in [("/ws/training", 4401), (f"/ws/training/?token={collector_token}", 4403)]:
        ws = await connect(path)
        message = await ws.receive_output(timeout=5)
        assert (message["type"], message["code"]) == ("websocket.close", code)


async def test_a_recheck_cut_off_by_an_outage_leaves_the_socket_guarded(settings):
    """The periodic re-check reads the user, then the job: the database lost at the second
    read raised out of the socket's guard task and ended it, so nothing guarded the socket
    any more (no later re-check; an expired token kept it open). Now a warning, and the
    socket is still closed when its token expires."""
    import asyncio
    from datetime import timedelta

    import psycopg
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework_simplejwt.tokens import AccessToken

    settings.HEIMDALL_WS_RECHECK_SECONDS = 1
    job_id, _, _ = await setup_job()

    @database_sync_to_async
    def short_token():
        token = AccessToken.for_user(get_user_model().objects.get(username="vera"))
        token.set_exp(lifetime=timedelta(seconds=8))
        return str(token)

    ws = await connect(f"/ws/training/{job_id}?token={await short_token()}")
    assert (await receive(ws))["event"] == "connected"
    params = connection.settings_dict
    dsn = {"host": params["HOST"] or "127.0.0.1", "port": params["PORT"] or 5432,
           "user": params["USER"], "dbname": params["NAME"]}  # fmt: skip
    locker = await psycopg.AsyncConnection.connect(**dsn)
    # Its own connection: pg_stat_activity is a snapshot for the length of a transaction.
    admin = await psycopg.AsyncConnection.connect(**dsn, autocommit=True)
    try:
        # The job's table locked: the re-check's job read waits, and its connection is
        # then ended under it (a database restart, a network cut).
        await locker.execute("LOCK TABLE training_trainingjob IN ACCESS EXCLUSIVE MODE")
        for _ in range(50):
            waiting = await (await admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = "
                "'Lock' AND query LIKE 'SELECT 1 AS \"a\" FROM \"training_trainingjob\"%%'",
                [params["NAME"]],
            )).fetchone()  # fmt: skip
            if waiting:
                break
            await asyncio.sleep(0.1)
        assert waiting, "no re-check waited on the job"
        await admin.execute("SELECT pg_terminate_backend(%s)", [waiting[0]])
        await locker.commit()
    finally:
        await locker.close()
        await admin.close()
    frames = []
    try:
        closed = await ws.receive_output(timeout=15)
        while closed["type"] != "websocket.close":
            frames.append(json.loads(closed["text"]))
            closed = await ws.receive_output(timeout=15)
    finally:
        # Every socket of this process shares the one worker thread's connection: the
        # next test must not find it ended under it.
        await database_sync_to_async(lambda: connection.close())()
    assert closed["code"] == 4401
    assert frames[-1]["error"]["code"] == "INVALID_TOKEN"
