"""Every SDK method once against the live server, with exact expected values.

Training jobs, runs, datasets and configs are in test_training.py (they need
a real job on the trainer cluster); the sockets in test_websocket.py.
"""

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from heimdall_sdk import ConflictError, HeimdallClient, NotFoundError, ValidationError, models
from heimdall_sdk.resources import IngestResult

from .conftest import URL, key


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def detection(station: str = "twente-nl", frequency: int = 14_100_000, **extra) -> dict:
    return {
        "websdr_station_id": station,
        "frequency_hz": frequency,
        "signal_strength_db": -70.5,
        "modulation_type": "USB",
        "anomaly_score": 0.1,
        "detection_timestamp": (_now() - timedelta(minutes=5)).isoformat(),
        **extra,
    }


async def test_auth_me_and_api_keys(client):
    me = await client.auth.me()
    assert (me.username, me.role) == ("live-admin", "admin")
    async with HeimdallClient(
        URL, username="live-operator", password=os.environ["HEIMDALL_PASSWORD"]
    ) as op:
        token = await op.auth.login("live-operator", os.environ["HEIMDALL_PASSWORD"])
        assert token.role == "operator" and token.access_token
        refreshed = await op.auth.refresh()
        assert refreshed.access_token != token.access_token
        name = f"sdk {uuid.uuid4().hex[:8]}"
        created = await op.auth.create_api_key(name, role="viewer")
        assert created.key.startswith("hmd_") and created.role == "viewer"
        listed = await op.auth.list_api_keys(limit=100)
        assert name in [k.name for k in listed.data]
        walked = [k.id async for k in op.auth.iter_api_keys(page_size=1)]
        assert walked == [k.id for k in listed.data]
        async with HeimdallClient(URL, api_key=created.key) as new:
            assert (await new.auth.me()).role == "viewer"
        await op.auth.revoke_api_key(created.id)
        assert created.id not in [k.id for k in (await op.auth.list_api_keys()).data]


async def test_health_and_users(client):
    health = await client.health.get()
    assert health.services["database"] == "healthy"
    users = await client.users.list(search="live-")
    assert sorted(u.username for u in users.data) == ["live-admin", "live-operator", "live-viewer"]


async def test_stations_lifecycle(client, db):
    listed = await client.stations.list()
    assert listed.total_count == len(listed.data) == 10
    assert "twente-nl" in {s.id for s in listed.data}
    sid = f"sdk-{uuid.uuid4().hex[:6]}"
    created = await client.stations.create(
        id=sid, name="SDK test", url="http://example.org:8073/", latitude=52.0, longitude=6.0,
        frequency_min=1_000_000, frequency_max=30_000_000, api_config={"api_type": "simulated"},
    )  # fmt: skip
    assert (created.id, created.frequency_max) == (sid, 30_000_000)
    assert (await client.stations.get(sid)).name == "SDK test"
    status = await client.stations.status(sid)
    assert status.station_id == sid if hasattr(status, "station_id") else status
    updated = await client.stations.update(
        sid, id=sid, name="SDK put", url="http://example.org:8073/", latitude=52.0,
        longitude=6.0, frequency_min=1_000_000, frequency_max=30_000_000,
        api_config={"api_type": "simulated", "timeout": 9},
    )  # fmt: skip
    assert updated.name == "SDK put" and updated.api_config["timeout"] == 9
    patched = await client.stations.patch(sid, api_config={"poll_interval": 2.0})
    assert (patched.api_config["timeout"], patched.api_config["poll_interval"]) == (9, 2.0)
    await client.stations.delete(sid)
    with pytest.raises(NotFoundError) as caught:
        await client.stations.get(sid)
    assert caught.value.code == "NOT_FOUND" and caught.value.request_id
    assert db.execute("SELECT count(*) FROM stations_station WHERE id = %s", [sid]).fetchone() == (
        0,
    )


async def test_signals_ingest_query_pages_and_cursor(operator, db):
    freq = 14_000_000 + uuid.uuid4().int % 100_000
    items = [detection(frequency=freq, signal_strength_db=-80.0 + i) for i in range(25)]
    result = await operator.signals.ingest(items, batch_size=10)
    assert result == IngestResult(ingested=25, duplicates=0, batches=3)
    again = await operator.signals.ingest(items, batch_size=10)  # ids were filled in place? no:
    assert again.ingested == 25  # the dicts were copied: new random ids, new detections
    ids = [str(uuid.uuid4()) for _ in range(5)]
    fixed = [detection(frequency=freq + 1, id=i) for i in ids]
    assert (await operator.signals.ingest(fixed)).ingested == 5
    assert (await operator.signals.ingest(fixed)) == IngestResult(0, 5, 1)
    (count,) = db.execute(
        "SELECT count(*) FROM signals_signaldetection WHERE frequency_hz = %s", [freq + 1]
    ).fetchone()
    assert count == 5

    page = await operator.signals.get_detections(frequency_range=(freq, freq), page_size=20)
    assert page.pagination.total_items == 50 and len(page.data) == 20
    assert all(isinstance(d, models.DetectionListItem) for d in page.data)
    pager = operator.signals.iter_detections(frequency_range=(freq, freq), page_size=7)
    walked = [d.id async for d in pager]
    assert len(walked) == len(set(walked)) == 50 and pager.pages_fetched == 8
    limited = operator.signals.iter_detections(frequency_range=(freq, freq), page_size=7, limit=3)
    assert len([d async for d in limited]) == 3 and limited.pages_fetched == 1
    one = await operator.signals.get_detection(ids[0])
    assert (one.id, one.frequency_hz, one.modulation_type) == (ids[0], freq + 1, "USB")


async def test_analyze(client):
    tone = [1.0, 0.0, -1.0, 0.0] * 256  # fs/4
    result = await client.signals.analyze(signal_data=tone, sample_rate=48000, frequency=14_235_000)
    assert result.signal_features["peak_frequency"] == 14_235_000 + 12_000
    assert result.processing_metadata.fft_size_used == 1024
    iq = await client.signals.analyze(
        signal_data=[complex(1, 0), complex(0, 1), complex(-1, 0), complex(0, -1)] * 64,
        sample_rate=48000, frequency=7_000_000, fft_size=256, window_function="hann",
    )  # fmt: skip
    assert iq.signal_features["peak_frequency"] == 7_000_000 + 12_000


async def test_anomalies_list_get_acknowledge(operator, viewer, db):
    # 400 MHz is outside twente-nl's HF coverage: an out_of_band_carrier anomaly. One
    # event per station and channel (12.5 kHz above 30 MHz): three channels, three events.
    items = [detection(frequency=400_000_000 + 25_000 * i, anomaly_score=None) for i in range(3)]
    await operator.signals.ingest(items)
    found = await operator.anomalies.list(station_id="twente-nl", acknowledged=False, page_size=2)
    assert found.pagination.total_items >= 3 and len(found.data) == 2
    pager = operator.anomalies.iter(station_id="twente-nl", acknowledged=False, page_size=2)
    every = [a.id async for a in pager]
    assert len(every) == found.pagination.total_items
    event = await operator.anomalies.get(found.data[0].id)
    assert event.event_type == "out_of_band_carrier"
    done = await operator.anomalies.acknowledge(event.id, notes="seen from the SDK")
    assert (done.acknowledged, done.notes) == (True, "seen from the SDK")
    with pytest.raises(ConflictError):
        await operator.anomalies.acknowledge(event.id, notes="again")
    (notes,) = db.execute(
        "SELECT notes FROM anomalies_anomalyevent WHERE id = %s", [event.id]
    ).fetchone()
    assert notes == "seen from the SDK"


async def test_statistics(client):
    summary = await client.statistics.summary(time_period="24h")
    assert summary.time_period == "24h"
    assert list(summary.signal_detections.by_frequency_band)[:3] == ["elf", "slf", "ulf"]
    usage = await client.statistics.frequency_usage(
        frequency_range=(14_000_000, 14_100_000), time_period="24h", bin_width_hz=10_000
    )
    assert usage.bin_width_hz == 10_000


async def test_constellations_members_shares_localize(operator, viewer):
    made = await operator.constellations.create(f"sdk {uuid.uuid4().hex[:6]}", description="x")
    cid = made.id
    assert (await operator.constellations.update(cid, description="y")).description == "y"
    for station in ("twente-nl", "hackgreen-uk", "maasbree-nl"):
        member = await operator.constellations.add_member(cid, station)
        assert member.websdr_station_id == station
    detail = await operator.constellations.get(cid)
    assert sorted(x.websdr_station_id for x in detail.members) == [
        "hackgreen-uk", "maasbree-nl", "twente-nl"
    ]  # fmt: skip
    assert cid in [c.id async for c in operator.constellations.iter(page_size=1)]
    assert cid in [c.id for c in (await operator.constellations.list()).data]
    viewer_id = (await viewer.auth.me()).id
    share = await operator.constellations.share(cid, viewer_id, "read")
    assert share.permission == "read"
    with pytest.raises(ValidationError) as refused:  # a viewer can only read
        await operator.constellations.update_share(cid, viewer_id, "edit")
    assert refused.value.field == "permission"
    assert (await operator.constellations.update_share(cid, viewer_id, "read")).permission == "read"
    shares = await operator.constellations.list_shares(cid)
    assert [s.user_id for s in shares.data] == [viewer_id]
    assert (await viewer.constellations.get(cid)).permission == "read"
    await operator.constellations.unshare(cid, viewer_id)
    with pytest.raises(NotFoundError):
        await viewer.constellations.get(cid)

    fix = await operator.constellations.localize(
        cid,
        frequency_hz=14_200_000,
        measurements=[
            {"websdr_station_id": "twente-nl", "signal_strength_db": -60.0},
            {"websdr_station_id": "hackgreen-uk", "signal_strength_db": -75.0},
            {"websdr_station_id": "maasbree-nl", "signal_strength_db": -62.0},
        ],
        method="wls",
    )
    assert fix.method == "wls" and -90 <= fix.latitude <= 90
    listed = await operator.localizations.list(constellation_id=cid)
    assert [x.id for x in listed.data] == [fix.id]
    assert [x.id async for x in operator.localizations.iter(constellation_id=cid)] == [fix.id]
    got = await operator.localizations.get(fix.id, include_posterior=True)
    assert (got.id, got.latitude) == (fix.id, fix.latitude)
    await operator.constellations.remove_member(cid, "maasbree-nl")
    assert len((await operator.constellations.get(cid)).members) == 2
    await operator.constellations.delete(cid)
    with pytest.raises(NotFoundError):
        await operator.constellations.get(cid)


async def test_reference_transmitters(client):
    made = await client.reference_transmitters.create(
        name=f"ref {uuid.uuid4().hex[:6]}", latitude=52.1, longitude=5.2, frequency_hz=14_100_000
    )
    rid = made.id
    assert (await client.reference_transmitters.get(rid)).frequency_hz == 14_100_000
    assert rid in [r.id for r in (await client.reference_transmitters.list()).data]
    put = await client.reference_transmitters.update(
        rid, name=made.name, latitude=52.2, longitude=5.2, frequency_hz=14_100_000
    )
    assert put.latitude == 52.2
    assert (await client.reference_transmitters.patch(rid, notes="sdk")).notes == "sdk"
    calibration = await client.reference_transmitters.calibrate(apply=False)
    assert calibration.applied is False and calibration.localizations_used == 0
    await client.reference_transmitters.delete(rid)
    with pytest.raises(NotFoundError):
        await client.reference_transmitters.get(rid)


async def test_models_registry(client, tmp_path):
    listed = await client.models.list(model_type="anomaly_detection")
    anomaly = next(x for x in listed.data if x.status == "deployed")
    assert (await client.models.get(anomaly.id)).name == "gaussian-mixture-default"
    prediction = await client.models.predict(
        anomaly.id,
        {"spectral_centroid": 1500.0, "bandwidth": 2400.0, "snr_estimate": 20.0,
         "signal_power": -40.0},
    )  # fmt: skip
    assert 0.0 <= prediction.prediction.anomaly_score <= 1.0
    localizations = (await client.models.list(model_type="localization")).data
    localization = next(x for x in localizations if x.status == "deployed")
    inspected = await client.models.inspect(localization.id)
    current = await client.models.inspect_current("localization")
    assert current["model_id"] == inspected["model_id"] == localization.id
    data = await client.models.download(localization.id, path=tmp_path / "model.bin")
    assert len(data) > 1000 and (tmp_path / "model.bin").read_bytes() == data
    assert (await client.models.activate(localization.id)).status == "deployed"
    recommended = await client.models.recommend(model_type="localization")
    assert recommended.architecture in ("deepsets", "set_transformer")

    draft = await client.models.create(
        name=f"sdk-{uuid.uuid4().hex[:6]}", model_type="localization", architecture="deepsets"
    )
    assert draft.status == "draft"
    assert (await client.models.patch(draft.id, description="p")).description == "p"
    assert (await client.models.update(draft.id, description="u")).description == "u"
    with pytest.raises(ConflictError):  # not `training`: nothing to report
        await client.models.training_fail(draft.id, reason="never started")
    with pytest.raises(ConflictError):
        await client.models.training_complete(draft.id, model_artifact_path="external/none")
    await client.models.delete(draft.id)
    with pytest.raises(NotFoundError):
        await client.models.get(draft.id)


async def test_model_train_is_accepted_and_cancellable(client):
    draft = await client.models.create(
        name=f"sdk-train-{uuid.uuid4().hex[:6]}", model_type="localization"
    )
    dataset = await client.training.generate_dataset(
        f"sdk-mt-{uuid.uuid4().hex[:6]}", num_samples=100, receiver_seed=3
    )
    accepted = await client.models.train(draft.id, dataset_ids=[dataset.id])
    assert accepted.status == "training" and accepted.job_id
    cancelled = await client.training.cancel_job(accepted.job_id)
    assert cancelled.status in ("cancelled", "failed")


def test_sync_client_has_the_same_methods():
    from heimdall_sdk import Client

    with Client(URL, api_key=key("viewer")) as sync:
        assert sync.auth.me().role == "viewer"
        stations = sync.stations.list()
        assert isinstance(stations, models.StationListResponse) and stations.total_count == 10
        assert len(list(sync.signals.iter_detections(limit=3, page_size=2))) <= 3
