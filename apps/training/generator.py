"""Synthetic datasets: localization samples (propagation model) and labelled I/Q clips.

Reproducible: the same parameters and seed give the same arrays.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from apps.radio import simulation
from apps.radio.propagation import PropagationModel, crb_metres, gdop, to_local_metres

SIGNAL_CLASSES = ("CW", "AM", "USB", "LSB", "FM", "FSK", "PSK", "NOISE")

# Seed 000's generator defaults (the API's defaults, and a job's auto-generated dataset).
DEFAULT_PARAMETERS = {
    "num_samples": 10_000,
    "use_random_receivers": True,
    "constellation_id": None,
    "min_receivers_count": 4,
    "max_receivers_count": 10,
    "receiver_seed": None,
    "area_lat_min": 44.0,
    "area_lat_max": 46.0,
    "area_lon_min": 7.0,
    "area_lon_max": 10.0,
    "frequency_mhz": 145.0,
    "tx_power_dbm": 37.0,
    "min_snr_db": 3.0,
    "min_receivers": 3,
    "max_gdop": 10.0,
    "snr_min_db": -5.0,
    "snr_max_db": 20.0,
    "clip_samples": 4096,
}
MAX_ATTEMPTS_PER_SAMPLE = 200


class GenerationError(Exception):
    pass


@dataclass(frozen=True)
class LocalizationParameters:
    num_samples: int
    use_random_receivers: bool
    min_receivers_count: int
    max_receivers_count: int
    receiver_seed: int | None
    area_lat_min: float
    area_lat_max: float
    area_lon_min: float
    area_lon_max: float
    frequency_mhz: float
    tx_power_dbm: float
    min_snr_db: float
    min_receivers: int
    max_gdop: float
    # When not random: (lat, lon, frequency_min_hz, frequency_max_hz) per station; a
    # receiver hears only frequencies it covers. (lat, lon) alone: covers everything.
    fixed_receivers: tuple[tuple[float, ...], ...] = ()


def covers_frequency(receiver, frequency_mhz: float) -> bool:
    """Whether a fixed receiver (lat, lon[, frequency_min_hz, frequency_max_hz]) can
    receive `frequency_mhz`."""
    if len(receiver) < 4:
        return True
    return receiver[2] <= frequency_mhz * 1e6 <= receiver[3]


def generate_localization(p: LocalizationParameters, progress: Callable[[int], None]) -> dict:
    """Arrays: receivers [N, K, 4] (lat, lon, rss dBm, snr dB; NaN-padded), mask [N, K],
    targets [N, 2] (lat, lon), gdop [N], crb_m [N]."""
    rng = np.random.default_rng(p.receiver_seed)
    model = PropagationModel(frequency_mhz=p.frequency_mhz)
    lat0 = (p.area_lat_min + p.area_lat_max) / 2
    lon0 = (p.area_lon_min + p.area_lon_max) / 2
    width = p.max_receivers_count if p.use_random_receivers else len(p.fixed_receivers)
    receivers = np.full((p.num_samples, width, 4), np.nan, dtype=np.float32)
    mask = np.zeros((p.num_samples, width), dtype=bool)
    targets = np.zeros((p.num_samples, 2))
    gdops = np.zeros(p.num_samples)
    crbs = np.zeros(p.num_samples)
    fixed = np.array([r[:2] for r in p.fixed_receivers], dtype=float).reshape(-1, 2)
    # A fixed receiver that cannot tune to the frequency never hears the transmitter.
    covering = np.array([covers_frequency(r, p.frequency_mhz) for r in p.fixed_receivers],
                        dtype=bool)  # fmt: skip
    if not p.use_random_receivers and covering.sum() < p.min_receivers:
        raise GenerationError(
            f"{int(covering.sum())} of {len(covering)} fixed receivers cover "
            f"{p.frequency_mhz} MHz; min_receivers is {p.min_receivers}"
        )
    attempts = 0
    for index in range(p.num_samples):
        while True:
            attempts += 1
            if attempts > MAX_ATTEMPTS_PER_SAMPLE * (index + 1):
                raise GenerationError(
                    f"only {index} of {p.num_samples} samples met min_receivers={p.min_receivers}, "
                    f"min_snr_db={p.min_snr_db} and max_gdop={p.max_gdop}: widen the constraints"
                )
            if p.use_random_receivers:
                count = int(rng.integers(p.min_receivers_count, p.max_receivers_count + 1))
                latlon = np.column_stack(
                    [
                        rng.uniform(p.area_lat_min, p.area_lat_max, count),
                        rng.uniform(p.area_lon_min, p.area_lon_max, count),
                    ]
                )
            else:
                latlon = fixed
            tx = np.array(
                [
                    rng.uniform(p.area_lat_min, p.area_lat_max),
                    rng.uniform(p.area_lon_min, p.area_lon_max),
                ]
            )
            rx_m = to_local_metres(latlon[:, 0], latlon[:, 1], lat0, lon0)
            tx_m = to_local_metres(tx[0], tx[1], lat0, lon0)
            distances = np.linalg.norm(rx_m - tx_m, axis=1)
            rss = model.received_power_dbm(p.tx_power_dbm, distances, rng)
            snr = rss - model.noise_floor_dbm
            heard = snr >= p.min_snr_db
            if not p.use_random_receivers:
                heard &= covering
            if heard.sum() < p.min_receivers:
                continue
            geometry = gdop(tx_m, rx_m[heard], model)
            if not math.isfinite(geometry) or geometry > p.max_gdop:
                continue
            slots = np.flatnonzero(heard)
            receivers[index, : len(slots)] = np.column_stack(
                [latlon[slots], rss[slots], snr[slots]]
            )
            mask[index, : len(slots)] = True
            targets[index] = tx
            gdops[index] = geometry
            crbs[index] = crb_metres(tx_m, rx_m[heard], model)
            break
        if (index + 1) % max(1, p.num_samples // 20) == 0:
            progress(index + 1)
    return {"receivers": receivers, "mask": mask, "targets": targets, "gdop": gdops, "crb_m": crbs}


def generate_signals(
    *,
    num_samples: int,
    seed: int | None,
    snr_min_db: float,
    snr_max_db: float,
    clip_samples: int,
    progress: Callable[[int], None],
) -> dict:
    """Labelled complex I/Q clips [N, clip_samples] at simulation.SAMPLE_RATE, one class each."""
    rng = np.random.default_rng(seed)
    clips = np.zeros((num_samples, clip_samples), dtype=np.complex64)
    labels = np.zeros(num_samples, dtype=np.int64)
    snrs = np.zeros(num_samples, dtype=np.float32)
    kinds = {"FM": "NFM"}
    for index in range(num_samples):
        label = int(rng.integers(len(SIGNAL_CLASSES)))
        snr = float(rng.uniform(snr_min_db, snr_max_db))
        noise = rng.standard_normal(clip_samples) + 1j * rng.standard_normal(clip_samples)
        noise /= math.sqrt(2)
        name = SIGNAL_CLASSES[label]
        if name == "NOISE":
            clip = noise
        else:
            emitter = simulation.Emitter(
                kinds.get(name, name),
                float(rng.uniform(-500, 500)),
                0.0,
                0.0,
                float(rng.uniform(0, 2 * math.pi)),
            )
            baseband = simulation.baseband(emitter, clip_samples, rng)
            t = np.arange(clip_samples) / simulation.SAMPLE_RATE
            signal = baseband * np.exp(2j * np.pi * emitter.offset_hz * t)
            signal /= math.sqrt(np.mean(np.abs(signal) ** 2)) + 1e-12
            clip = signal * 10 ** (snr / 20) + noise
        clips[index] = clip / (np.max(np.abs(clip)) + 1e-12)
        labels[index] = label
        snrs[index] = snr
        if (index + 1) % max(1, num_samples // 20) == 0:
            progress(index + 1)
    return {"clips": clips, "labels": labels, "snr_db": snrs, "classes": np.array(SIGNAL_CLASSES)}
