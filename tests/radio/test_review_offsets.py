"""Calibration offsets from many reference transmissions (POST .../calibrate reads every
stored localization of a reference transmitter).

Found: estimate_offsets carried one power column per transmission of unknown power in a
dense design matrix and took its pseudo-inverse: 3,000 transmissions (a repeater on a
reference list for a few days) took 20 s and 1.6 GB inside the request, growing as the
cube and the square — a worker killed for memory long before 10,000. The powers are
now profiled out: a station × station system, the same estimates (checked here against
the earlier formulation), 20,000 transmissions well under a few seconds."""

import math
import time
from dataclasses import replace

import numpy as np
import pytest

from apps.radio.localization import OffsetEstimate, ReferenceObservation, estimate_offsets
from apps.radio.propagation import PropagationModel


def dense_reference(observations, model=None):
    """The earlier formulation: a power column per transmission of unknown power."""
    model = model or PropagationModel()
    stations = sorted({s for o in observations for s in o.stations})
    column = {s: i for i, s in enumerate(stations)}
    unknown = [i for i, o in enumerate(observations) if o.tx_power_dbm is None]
    power_column = {t: len(stations) + j for j, t in enumerate(unknown)}
    rows, targets = [], []
    for t, observation in enumerate(observations):
        distances = np.linalg.norm(observation.receivers - observation.position, axis=1)
        path_loss = replace(model, frequency_mhz=observation.frequency_mhz).mean_path_loss_db(
            distances
        )
        for station, reported, loss in zip(observation.stations, observation.reported_dbm,
                                           path_loss, strict=True):  # fmt: skip
            row = np.zeros(len(stations) + len(unknown))
            row[column[station]] = 1.0
            target = float(reported) + float(loss)
            if observation.tx_power_dbm is None:
                row[power_column[t]] = 1.0
            else:
                target -= observation.tx_power_dbm
            rows.append(row)
            targets.append(target)
    design, target = np.array(rows), np.array(targets)
    if len(unknown) == len(observations):
        gauge = np.zeros(design.shape[1])
        gauge[: len(stations)] = 1.0
        design = np.vstack([design, gauge * 1e3])
        target = np.append(target, 0.0)
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    covariance = np.linalg.pinv(design.T @ design / model.shadowing_db**2)
    counts = (np.array(rows)[:, : len(stations)] > 0).sum(axis=0)
    return {
        station: OffsetEstimate(float(solution[i]), float(math.sqrt(max(covariance[i, i], 0))),
                                int(counts[i]))
        for station, i in column.items()
    }  # fmt: skip


def observations(count, *, known, seed=1):
    rng = np.random.default_rng(seed)
    names = [f"s{i}" for i in range(7)]
    receivers = rng.uniform(-80_000, 80_000, (7, 2))
    result = []
    for t in range(count):
        heard = sorted(rng.choice(7, size=int(rng.integers(3, 8)), replace=False))
        power = None if known == "none" or (known == "some" and t % 3) else 37.0
        result.append(ReferenceObservation(
            position=rng.uniform(-50_000, 50_000, 2), tx_power_dbm=power,
            stations=tuple(names[i] for i in heard), receivers=receivers[heard],
            reported_dbm=rng.normal(-90, 8, len(heard)), frequency_mhz=145.0 + t % 3,
        ))  # fmt: skip
    return result


@pytest.mark.parametrize("known", ["none", "some", "all"])
def test_the_same_estimates_as_the_dense_formulation(known):
    data = observations(60, known=known)
    new, old = estimate_offsets(data), dense_reference(data)
    assert new.keys() == old.keys()
    for station in new:
        assert new[station].observations == old[station].observations
        assert math.isclose(new[station].offset_db, old[station].offset_db, abs_tol=1e-6)
        assert math.isclose(new[station].standard_error_db, old[station].standard_error_db,
                            rel_tol=1e-6, abs_tol=1e-9)  # fmt: skip


def test_many_transmissions_of_unknown_power_stay_cheap():
    data = observations(20_000, known="none")
    started = time.process_time()
    estimates = estimate_offsets(data)
    assert time.process_time() - started < 10  # was cubic: 20 s for 3,000
    assert abs(sum(e.offset_db for e in estimates.values())) < 1e-3  # the mean-zero gauge
