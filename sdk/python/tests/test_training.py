"""Training through the SDK and `heimdall train --watch`, on the live trainer cluster:
a small synthetic dataset, a named config, one job watched over its WebSocket,
then every training read (jobs, metrics, runs, summary, status, data check)."""

import asyncio
import os
import subprocess
import sys
import uuid

import pytest
from heimdall_sdk import HeimdallClient, NotFoundError

from .conftest import URL, key

pytestmark = pytest.mark.slow


async def test_train_watch_and_every_training_read():
    async with HeimdallClient(URL, api_key=key("operator")) as c:
        dataset = await c.training.generate_dataset(
            f"sdk-{uuid.uuid4().hex[:6]}", num_samples=200, receiver_seed=5
        )
        for _ in range(600):
            dataset = await c.training.get_dataset(dataset.id)
            if dataset.status in ("ready", "failed"):
                break
            await asyncio.sleep(0.1)
        assert dataset.status == "ready"
        assert dataset.id in [d.id for d in (await c.training.list_datasets(limit=100)).datasets]
        name = f"sdk-{uuid.uuid4().hex[:6]}"
        config = {"dataset_id": dataset.id, "epochs": 2, "warmup_epochs": 0, "batch_size": 32}
        await c.training.create_config(name, config=config, description="from the SDK")
        assert name in (await c.training.list_configs()).available_configs
        updated = await c.training.update_config(name, config=config, description="sdk")
        assert updated.description == "sdk"
        check = await c.training.data_check(config_name=name)
        assert check.to_dict()

        env = {**os.environ, "HEIMDALL_URL": URL, "HEIMDALL_API_KEY": key("operator"),
               "COLUMNS": "200"}  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "heimdall_sdk.cli", "train", "--config-name", name, "--watch",
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        output = (await asyncio.wait_for(proc.communicate(), 180))[0].decode()
        assert proc.returncode == 0, output
        assert "completed: model" in output
        assert "1/2" in output and "2/2" in output  # the per-epoch table
        job_id = output.split("job ", 1)[1].split()[0]

        detail = await c.training.get_job(job_id)
        assert detail.job.status == "completed" and detail.job.current_epoch == 2
        metrics = await c.training.job_metrics(job_id)
        assert [x.epoch for x in metrics.metrics if x.phase == "train"] == [1, 2]
        assert job_id in [j.id async for j in c.training.iter_jobs(status="completed")]
        assert job_id in [j.id for j in (await c.training.list_jobs(limit=50)).jobs]
        assert job_id in [r.job_id for r in (await c.training.list_runs(limit=50)).runs]
        assert (await c.training.run_summary(job_id)).status == "completed"
        assert len((await c.training.run_metrics(job_id)).metrics) >= 2
        assert (await c.training.latest_metrics()).to_dict()
        assert (await c.training.status()).to_dict()

        await c.training.delete_job(job_id)
        with pytest.raises(NotFoundError):
            await c.training.get_job(job_id)
        await c.training.delete_config(name)
        await c.training.delete_dataset(dataset.id)
        with pytest.raises(NotFoundError):
            await c.training.get_dataset(dataset.id)
