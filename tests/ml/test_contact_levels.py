"""A detection judged against its contact's own recent level (issue 17, strength jumps):
the recent-level helper on hand-made streams, the context model's contact sub-score, and
ingest finding the levels from the batch and from this process's committed batches."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db import transaction

from apps.core.exceptions import ValidationFailed
from apps.core.timeutil import utc_now
from apps.ml import contacts, context, scoring
from apps.ml.models import MLModel
from apps.ml.services import model_activate, model_register
from apps.signals import services
from apps.signals.models import SignalDetection
from apps.signals.services import IngestResult
from tests.ml.test_context_model import DAY0, probe, with_contacts
from tests.signals.factories import DetectionFactory, ingest
from tests.stations.factories import StationFactory

CONTACT_HZ = 14_195_000  # with_contacts(): a channel of random contacts, no regular user


def levels(rows: list[tuple]) -> context.Recent:
    """context.recent_levels of (station, frequency Hz, time s, dB) rows."""
    station, frequency, time_s, strength = (np.array(column) for column in zip(*rows, strict=True))
    return context.recent_levels(station, frequency, time_s, strength)


# --- the helper -------------------------------------------------------------------------

STREAM = [
    ("hf-a", 7_000_000, 0.0, -90.0),
    ("hf-a", 7_000_050, 100.0, -92.0),  # the same 3 kHz channel
    ("hf-a", 7_003_000, 150.0, -50.0),  # the next channel
    ("hf-b", 7_000_000, 160.0, -40.0),  # another station
    ("hf-a", 7_000_000, 200.0, -94.0),
    ("hf-a", 7_000_000, 200.0, -60.0),  # at the same time: neither is before the other
    ("hf-a", 7_000_000, 700.0, -80.0),  # 600 s after 100 s: that one still counts, 0 s not
    ("hf-a", 7_000_000, 801.0, -70.0),  # 601 s after 200 s: only 700 s counts
]
EXPECTED = [
    (math.nan, 0),
    (-90.0, 1),
    (math.nan, 0),
    (math.nan, 0),
    (-91.0, 2),
    (-91.0, 2),
    ((-92.0 - 94.0 - 60.0) / 3, 3),
    (-80.0, 1),
]


def assert_levels(recent: context.Recent, expected: list[tuple]) -> None:
    assert recent.count.tolist() == [count for _, count in expected]
    assert recent.level_db.tolist() == pytest.approx(
        [level for level, _ in expected], nan_ok=True, abs=1e-12
    )


def test_recent_level_is_the_mean_of_the_same_station_and_channel_within_the_window():
    assert_levels(levels(STREAM), EXPECTED)


def test_recent_levels_do_not_depend_on_the_order_of_the_rows():
    shuffled = np.random.default_rng(3).permutation(len(STREAM))
    recent = levels([STREAM[i] for i in shuffled])
    assert_levels(recent, [EXPECTED[i] for i in shuffled])


def test_recent_level_averages_the_last_five_earlier_detections():
    rows = [("hf-a", 7_000_000, 10.0 * k, -1.0 - k) for k in range(8)]  # -1 .. -8 dB
    recent = levels(rows)
    assert recent.count.tolist() == [0, 1, 2, 3, 4, 5, 5, 5]
    assert recent.level_db[7] == pytest.approx((-3 - 4 - 5 - 6 - 7) / 5)  # rows 2..6


# --- the model ----------------------------------------------------------------------------


def contact_then(level_db: float, *, contact_db: float | None = -90.0) -> context.Observations:
    """Five detections of a contact (10-14 UTC minutes of day 8) on CONTACT_HZ at
    `contact_db`, then one at `level_db` at 10:15; `contact_db` None: that one alone."""
    start = DAY0 + timedelta(days=8, hours=10, minutes=10)
    rows = []
    if contact_db is not None:
        rows = [
            probe(frequency_hz=CONTACT_HZ, detection_timestamp=start + timedelta(minutes=k),
                  signal_strength_db=contact_db + (k % 2))  # -90, -89, -90, -89, -90
            for k in range(5)
        ]  # fmt: skip
    rows.append(
        probe(
            frequency_hz=CONTACT_HZ,
            detection_timestamp=start + timedelta(minutes=5),
            signal_strength_db=level_db,
        )
    )
    obs = context.Observations.from_rows(rows)
    obs.time_s = np.array([row["detection_timestamp"].timestamp() for row in rows])
    obs.recent_strength_db, obs.recent_count = context.recent_levels(
        obs.station, obs.frequency_hz, obs.time_s, obs.strength_db
    )
    return obs


def test_a_jump_over_the_contacts_level_is_a_power_jump():
    model = context.fit(with_contacts())
    obs = contact_then(-70.0)
    verdict = model.score(obs)
    assert obs.recent_strength_db[-1] == pytest.approx(-89.6)
    z = (-70.0 + 89.6) / (4.0 * math.sqrt(1 + 1 / 5))
    assert verdict.score[-1] == pytest.approx(0.9 / (1 + math.exp(-3 * (z - 3))))
    assert verdict.score[-1] > 0.85
    assert context.REASONS[verdict.reason[-1]] == "power_jump"
    assert model.describe(obs, verdict, len(obs) - 1) == (
        "+20 dB over this contact's level of the last 10 minutes"
    )
    assert (verdict.score[:-1] < 0.05).all()  # the contact's own fading is ordinary


def test_the_same_level_without_a_contact_before_it_is_ordinary():
    model = context.fit(with_contacts())
    obs = contact_then(-70.0, contact_db=None)
    assert np.isnan(obs.recent_strength_db).all()
    verdict = model.score(obs)
    # Only the segment ceiling judges it: 2 dB under the segment's p99 (-68 dB).
    regular = (1 - math.exp(-0.5)) / (1 + math.exp(-10 * (2 / 7 - 0.5)))
    evidence = 1 - math.exp(-642 / 30)
    assert verdict.score[0] == pytest.approx(0.9 * evidence * (1 - regular) / (1 + math.exp(2.0)))
    assert verdict.score[0] < 0.5


def test_without_recent_levels_the_contact_part_is_zero_and_old_bundles_score_it():
    model = context.fit(with_contacts())
    obs = contact_then(-70.0)
    bare = context.Observations(
        **{k: v for k, v in obs.__dict__.items() if k not in ("recent_strength_db", "recent_count")}
    )
    unknown = contact_then(-70.0)
    unknown.recent_strength_db = np.full(len(unknown), np.nan)
    assert model.score(bare).score.tolist() == model.score(unknown).score.tolist()
    assert model.score(bare).score[-1] < 0.5
    # A bundle stored before this sub-score (it needs no array): loads, and scores it.
    again = context.ContextModel.from_bytes(model.to_bytes())
    assert again.score(obs).score.tolist() == model.score(obs).score.tolist()


# --- ingest ----------------------------------------------------------------------------------


@pytest.fixture
def deployed(db):
    """hf-a with the with_contacts() context model deployed."""
    StationFactory(id="hf-a")
    model = model_register(
        name="context-contacts", version="1.0.0", model_type=MLModel.Type.ANOMALY_DETECTION,
        weights=context.fit(with_contacts()).to_bytes(), weights_name="model.npz",
        metrics={}, config={}, architecture=context.KIND,
    )  # fmt: skip
    model_activate(model=model)
    scoring.forget_loaded_scorer()
    yield
    scoring.forget_loaded_scorer()


def item(when: datetime, level_db: float, **changes) -> dict:
    """A USB detection on CONTACT_HZ at hf-a, for the deployed model to score."""
    fields = {
        "websdr_station_id": "hf-a", "frequency_hz": CONTACT_HZ, "anomaly_score": None,
        "signal_strength_db": level_db, "bandwidth_hz": 2700, "modulation_type": "USB",
        "signal_features": {}, "processing_metadata": {},
    }  # fmt: skip
    return DetectionFactory(when=when, **{**fields, **changes})


def contact(end: datetime, level_db: float = -90.0) -> list[dict]:
    """Five detections of a contact at `level_db`, a minute apart, the last at `end`."""
    return [item(end - timedelta(minutes=4 - k), level_db) for k in range(5)]


def verdict_of(detection: dict) -> tuple[bool, str | None]:
    stored = SignalDetection.objects.get(pk=detection["id"])
    return stored.is_anomaly, stored.processing_metadata.get("anomaly_description")


JUMP = (True, "+20 dB over this contact's level of the last 10 minutes")


def test_a_batch_is_judged_against_the_levels_of_the_batch_before_it(
    deployed, django_capture_on_commit_callbacks
):
    now = utc_now()
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest(*contact(now - timedelta(minutes=2))).anomalies == 0
    jump = item(now - timedelta(minutes=1), -70.0)
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest(jump).anomalies == 1
    assert verdict_of(jump) == JUMP
    assert SignalDetection.objects.get(pk=jump["id"]).processing_metadata["anomaly_reason"] == (
        "power_jump"
    )


def test_a_jump_after_its_contact_in_the_same_batch_in_any_order(deployed):
    now = utc_now()
    jump = item(now - timedelta(minutes=1), -70.0)
    assert ingest(jump, *contact(now - timedelta(minutes=2))).anomalies == 1
    assert verdict_of(jump) == JUMP


def test_without_a_contact_before_it_the_same_level_is_ordinary(deployed):
    lone = item(utc_now() - timedelta(minutes=1), -70.0)
    assert ingest(lone).anomalies == 0
    assert verdict_of(lone) == (False, None)


def test_a_refused_batch_leaves_no_levels_behind(deployed, django_capture_on_commit_callbacks):
    now = utc_now()
    refused = [*contact(now - timedelta(minutes=2)), item(now, -90.0, modulation_type="XYZ")]
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationFailed):
        ingest(*refused)
    assert not SignalDetection.objects.exists()
    jump = item(now - timedelta(minutes=1), -70.0)
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest(jump).anomalies == 0
    assert verdict_of(jump) == (False, None)


def test_a_batch_rolled_back_after_its_write_leaves_no_levels_behind(
    deployed, django_capture_on_commit_callbacks
):
    """Stored, then rolled back with the caller's transaction: the levels are kept only
    after a commit."""
    now = utc_now()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        assert ingest(*contact(now - timedelta(minutes=2))).ingested == 5
        raise RuntimeError("the caller's transaction fails")
    jump = item(now - timedelta(minutes=1), -70.0)
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest(jump).anomalies == 0
    assert SignalDetection.objects.count() == 1


def test_backfilled_rows_use_their_own_batch_not_newer_levels(
    deployed, django_capture_on_commit_callbacks
):
    now = utc_now()
    with django_capture_on_commit_callbacks(execute=True):
        ingest(*contact(now - timedelta(minutes=2)))
    # A recording of an hour ago: the levels stored just now are after it, not before it.
    old_jump = item(now - timedelta(minutes=61), -70.0)
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest(old_jump).anomalies == 0
    assert verdict_of(old_jump) == (False, None)
    # Its own contact, in the same backfilled batch, does count.
    older = item(now - timedelta(minutes=55), -70.0)
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest(older, *contact(now - timedelta(minutes=56))).anomalies == 1
    assert verdict_of(older) == JUMP


def test_chunks_score_as_the_whole_batch(deployed, monkeypatch):
    """Levels are found once for the whole batch: with three rows per chunk (the jump in
    the first chunk, its contact in later ones) every row scores as in one chunk. No
    commit callbacks run here: the second batch finds nothing of the first stored."""
    now = utc_now()

    def batch() -> list[dict]:
        jump = item(now - timedelta(minutes=1), -70.0)
        return [jump, *contact(now - timedelta(minutes=2)),
                *contact(now - timedelta(minutes=8), -75.0)]  # fmt: skip

    whole = batch()
    ingest(*whole)
    monkeypatch.setattr(services, "CHUNK_ROWS", 3)
    chunked = batch()
    ingest(*chunked)

    def scores(rows):
        stored = {
            str(d.pk): (d.anomaly_score, d.is_anomaly)
            for d in SignalDetection.objects.filter(pk__in=[row["id"] for row in rows])
        }
        return [stored[row["id"]] for row in rows]

    assert scores(chunked) == scores(whole)
    assert scores(whole)[0][1] is True  # the jump, judged on the contact after it in the list


def test_a_batch_sent_again_is_duplicates_though_its_scores_would_differ(
    deployed, django_capture_on_commit_callbacks
):
    """The content hash is of what the client sent (anomaly_score absent), not of the
    server's score: sent again after more of the contact was heard, the jump scores
    otherwise, and the batch is still counted as duplicates, not a 409."""
    now = utc_now()
    with django_capture_on_commit_callbacks(execute=True):
        ingest(*contact(now - timedelta(minutes=3)))
    jump = item(now - timedelta(minutes=1), -70.0)
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest(jump) == IngestResult(ingested=1, duplicates=0, anomalies=1)
    first = SignalDetection.objects.get(pk=jump["id"])
    louder = [item(now - timedelta(seconds=s), -66.0) for s in (170, 150, 130, 110, 90)]
    with django_capture_on_commit_callbacks(execute=True):  # more of the contact, louder
        ingest(*louder)
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest(jump) == IngestResult(ingested=0, duplicates=1, anomalies=0)
    # What the second send was scored with: the five louder ones before it, no jump.
    found = contacts.batch_contacts([jump], [first.detection_timestamp]).recent
    assert (found.level_db[0], found.count[0]) == (-66.0, 5)
    again = SignalDetection.objects.get(pk=jump["id"])
    assert (again.anomaly_score, again.is_anomaly) == (first.anomaly_score, True)


# --- the store ---------------------------------------------------------------------------


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(1_800_000_000 + seconds, UTC)


def remembered(rows: list[tuple], now: float) -> None:
    """Commit (station, Hz, s, dB) rows to the store, at `now` (s)."""
    items = [
        {"websdr_station_id": s, "frequency_hz": f, "signal_strength_db": db}
        for s, f, _, db in rows
    ]
    batch = contacts.batch_contacts(items, [at(t) for _, _, t, _ in rows])
    contacts.remember(batch, now=1_800_000_000 + now)


def level_at(station: str, frequency: int, seconds: float) -> float:
    found = contacts.batch_contacts(
        [{"websdr_station_id": station, "frequency_hz": frequency, "signal_strength_db": -50.0}],
        [at(seconds)],
    )
    return found.recent.level_db[0]


def test_the_store_keeps_the_newest_levels_per_station_and_channel():
    remembered([("hf-a", 7_000_000, t, -90.0 - t) for t in range(7)], now=6)
    remembered([("hf-b", 7_000_000, 5, -40.0), ("hf-a", 7_003_000, 5, -30.0)], now=6)
    assert level_at("hf-a", 7_000_000, 10) == pytest.approx(-94.0)  # 2..6 s: -92..-96 dB
    # 0..4 s: before it only (the store keeps STORE_TIES more than CONTACT_DEPTH: 0 s too)
    assert level_at("hf-a", 7_000_000, 4.5) == pytest.approx(-92.0)
    assert level_at("hf-b", 7_000_000, 10) == -40.0
    assert math.isnan(level_at("hf-a", 7_000_000, 607))  # the newest, 6 s, is 601 s earlier


def test_the_store_forgets_old_levels_and_holds_at_most_max_keys(monkeypatch):
    monkeypatch.setattr(contacts, "_STORE", contacts._Store(capacity=2))
    remembered([("hf-a", 7_000_000, 0, -90.0)], now=0)
    remembered([("hf-a", 7_003_000, 10, -80.0), ("hf-a", 7_006_000, 20, -70.0)], now=20)
    assert len(contacts._STORE.slot_of) == 2  # the least recently heard went
    assert math.isnan(level_at("hf-a", 7_000_000, 30))
    assert level_at("hf-a", 7_006_000, 30) == -70.0
    remembered([("hf-b", 7_000_000, 700, -60.0)], now=700)  # the others are stale by now
    assert len(contacts._STORE.slot_of) == 1
    assert level_at("hf-b", 7_000_000, 701) == -60.0


def test_batches_in_turn_find_what_the_whole_stream_gives():
    """Random streams (2 stations, 3 channels, 25 minutes) sent as a few batches in time
    order, each shuffled, some re-sending rows of the one before: every new row's level
    is context.recent_levels over everything sent so far."""
    rng = np.random.default_rng(5)
    for _ in range(40):
        contacts.forget()
        n = int(rng.integers(5, 60))
        station = rng.choice(["hf-a", "hf-b"], n)
        frequency = 7_000_000 + 3_000 * rng.integers(0, 3, n)
        seconds = np.sort(rng.integers(0, 1500, n)).astype(float)
        level = np.round(rng.uniform(-100, -60, n), 1)
        cuts = np.sort(rng.choice(np.arange(1, n), size=min(3, n - 1), replace=False))
        sent: list[int] = []
        for part in np.split(np.arange(n), cuts):
            new = rng.permutation(part).tolist()
            again = sent[-int(rng.integers(0, 6)) :] if sent and rng.random() < 0.3 else []
            rows = new + again
            batch = contacts.batch_contacts(
                [{"websdr_station_id": str(station[i]), "frequency_hz": int(frequency[i]),
                  "signal_strength_db": float(level[i])} for i in rows],
                [at(seconds[i]) for i in rows],
            )  # fmt: skip
            so_far = np.array(sorted(set(sent + new)))
            whole = context.recent_levels(
                station[so_far], frequency[so_far], seconds[so_far], level[so_far]
            )
            where = {row: k for k, row in enumerate(so_far.tolist())}
            expected = [where[i] for i in new]  # a row sent again is a duplicate: not stored
            assert batch.recent.count[: len(new)].tolist() == whole.count[expected].tolist()
            assert batch.recent.level_db[: len(new)].tolist() == pytest.approx(
                whole.level_db[expected].tolist(), nan_ok=True, abs=1e-9
            )
            contacts.remember(batch, now=1_800_000_000 + seconds[part].max())
            sent += new


@pytest.mark.parametrize("ties", [1, 2, 3])
def test_a_batch_cut_between_detections_of_one_instant_finds_what_one_batch_finds(ties):
    """Found: the store kept a key's newest CONTACT_DEPTH levels; a row at the same time
    as the newest stored ones cannot count those (not earlier than it), so a batch cut
    between two detections of one instant judged the later on 4 levels where one batch
    (and the whole stream) gives 5. The store keeps STORE_TIES more."""
    rows = [("hf-a", 7_000_000, 10.0 * k, -90.0 - k) for k in range(6)]  # 0 s … 50 s
    rows += [("hf-a", 7_000_000, 60.0, -60.0)] * ties  # one instant, the batch cut inside
    last = ("hf-a", 7_000_000, 60.0, -99.0)
    remembered(rows, now=60)
    found = contacts.batch_contacts(
        [{"websdr_station_id": last[0], "frequency_hz": last[1], "signal_strength_db": last[3]}],
        [at(last[2])],
    ).recent
    whole = levels([*rows, last])
    assert (found.count[0], found.level_db[0]) == (5, -93.0)  # 10 s … 50 s
    assert (whole.count[-1], whole.level_db[-1]) == (5, -93.0)


@pytest.mark.parametrize(
    "unknown",
    ["x" * 100_000, "\u00e9t\u00e9-\U0001f4e1", " hf-a", "HF-A"],
    ids=["long", "unicode", "space", "case"],
)
def test_a_refused_batch_leaves_no_station_ids_in_the_store(
    deployed, django_capture_on_commit_callbacks, monkeypatch, unknown
):
    """Found: the store gave every station id of every batch a code for the life of the
    process, before validation — a refused batch's ids too (any string, up to the body
    limit: memory without bound), and past MAX_STATIONS of them the store started afresh,
    every contact's levels forgotten. Now only batches whose stations are all known."""
    monkeypatch.setattr(contacts, "MAX_STATIONS", 3)
    now = utc_now()
    with django_capture_on_commit_callbacks(execute=True):
        ingest(*contact(now - timedelta(minutes=2)))
    for k in range(5):  # unknown stations, each batch refused
        with pytest.raises(ValidationFailed):
            ingest(item(now, -90.0, websdr_station_id=f"{unknown}{k}"))
        with pytest.raises(ValidationFailed):
            ingest(item(now, -90.0, websdr_station_id=[unknown]), item(now, -90.0))
    assert set(contacts._STORE.codes) == {"hf-a"}
    jump = item(now - timedelta(minutes=1), -70.0)
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest(jump).anomalies == 1  # the contact's levels are still there
    assert verdict_of(jump) == JUMP
