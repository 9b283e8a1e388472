"""Held-out evaluation of anomaly models: anomalies of five kinds injected into held-out
days, and recall at a fixed false-alarm rate (bench/anomalies.py and the anomaly training
job, which activates a new model only when it beats the active one here).

Kinds (issue 17), each made from a held-out detection of the same station:

- ``new_carrier``: an unmodulated carrier (CW, 150 Hz) on a channel the station never
  heard in the whole history (neither neighbour channel either);
- ``wrong_modulation``: a modulation never seen in the detection's band segment;
- ``strength_jump``: 15-25 dB over the channel's median strength;
- ``wideband``: 25-80 kHz wide on HF, 100-300 kHz on VHF/UHF;
- ``off_hour``: a regular channel (heard at least 30 times, on at least 60 % of the
  days), at an hour when it was never heard.

Every scored row carries its contact's recent level (`add_recent_levels`): a held-out
row from the held-out rows before it (same station and channel, within
context.CONTACT_WINDOW_S), an injected row the level of the row it was made from,
found before the injection changed it (a new carrier, moved to a never-heard channel,
has none).

Metrics: the score threshold is the (1 − rate) quantile of the normal held-out
scores (the higher sample, so ties never push the false-alarm rate above the
target); recall is the share of injected anomalies scoring strictly above it;
ROC AUC is the Mann-Whitney statistic (ties count half).
"""

from datetime import UTC, datetime, timedelta

import numpy as np

from apps.anomalies import channels
from apps.ml.context import Observations, _keys, recent_levels

KINDS = ("new_carrier", "wrong_modulation", "strength_jump", "wideband", "off_hour")
MODULATIONS = ("FM", "AM", "USB", "CW", "FSK", "LSB", "OFDM")


def _station_keys(obs: Observations, stations: np.ndarray, centre) -> np.ndarray:
    return _keys(np.searchsorted(stations, obs.station), np.asarray(centre))


def add_recent_levels(obs: Observations) -> None:
    """Set each row's contact level from the rows before it in `obs` (`obs.time_s`
    needed): context.recent_levels over the held-out stream. Call before `inject`, whose
    rows then carry the levels of the rows they were made from."""
    obs.recent_strength_db, obs.recent_count = recent_levels(
        obs.station, obs.frequency_hz, obs.time_s, obs.strength_db
    )


def inject(
    history: Observations, heldout: Observations, *, per_kind: int, seed: int
) -> tuple[Observations, np.ndarray]:
    """(anomalous rows, their kinds): up to `per_kind` of each kind, from `heldout` rows,
    judged against everything in `history` and `heldout` (the whole history)."""
    rng = np.random.default_rng(seed)
    everything = _concat([history, heldout])
    stations = np.unique(everything.station)
    centre = channels.channel_of(everything.frequency_hz)
    used = np.unique(_station_keys(everything, stations, centre))
    parts, kinds = [], []

    def pick(n):
        return rng.choice(len(heldout), size=min(n, len(heldout)), replace=False)

    # new carrier
    rows = heldout.take(pick(per_kind * 3))
    mask = np.zeros(len(rows), dtype=bool)
    for i in range(len(rows)):
        hf = rows.frequency_hz[i] < channels.HF_EDGE_HZ
        step, spread = (1_000, 200_000) if hf else (12_500, 2_000_000)
        for _ in range(50):
            f = int(rows.frequency_hz[i] + rng.integers(-spread, spread) // step * step)
            c = channels.channel_of(f)
            width = channels.HF_CHANNEL_HZ if hf else channels.VHF_CHANNEL_HZ
            s = np.searchsorted(stations, rows.station[i])
            near = _keys(np.full(3, s), np.array([c - width, c, c + width]))
            if f > 0 and not np.isin(near, used).any():
                rows.frequency_hz[i] = f
                rows.modulation[i] = "CW"  # an unmodulated carrier
                rows.bandwidth_hz[i] = 150.0
                if rows.features is not None:
                    rows.features[i, 1] = 150.0
                if rows.recent_strength_db is not None:
                    rows.recent_strength_db[i] = np.nan  # a never-heard channel: no contact
                mask[i] = True
                break
    _add(parts, kinds, rows.take(np.flatnonzero(mask)[:per_kind]), "new_carrier")

    # wrong modulation
    rows = heldout.take(pick(per_kind * 3))
    segment = _station_keys(everything, stations, channels.segment_of(everything.frequency_hz))
    row_segment = _station_keys(rows, stations, channels.segment_of(rows.frequency_hz))
    mask = np.zeros(len(rows), dtype=bool)
    for i in range(len(rows)):
        seen = set(np.unique(everything.modulation[segment == row_segment[i]]).tolist())
        choices = [m for m in MODULATIONS if m not in seen]
        if choices:
            rows.modulation[i] = choices[int(rng.integers(len(choices)))]
            mask[i] = True
    _add(parts, kinds, rows.take(np.flatnonzero(mask)[:per_kind]), "wrong_modulation")

    # strength jump over the channel's median
    rows = heldout.take(pick(per_kind))
    all_keys = _station_keys(everything, stations, centre)
    row_keys = _station_keys(rows, stations, channels.channel_of(rows.frequency_hz))
    for i in range(len(rows)):
        median = float(np.median(everything.strength_db[all_keys == row_keys[i]]))
        _set_strength(rows, i, median + rng.uniform(15, 25))
    _add(parts, kinds, rows, "strength_jump")

    # wideband
    rows = heldout.take(pick(per_kind))
    hf = rows.frequency_hz < channels.HF_EDGE_HZ
    rows.bandwidth_hz = np.where(
        hf, rng.uniform(25_000, 80_000, len(rows)), rng.uniform(100_000, 300_000, len(rows))
    )
    if rows.features is not None:
        rows.features[:, 1] = rows.bandwidth_hz
    _add(parts, kinds, rows, "wideband")

    # off hour: a busy channel at an hour it was never heard
    key_values, inverse, counts = np.unique(all_keys, return_inverse=True, return_counts=True)
    hours = np.bincount(inverse * 24 + everything.hour, minlength=len(key_values) * 24)
    hours = hours.reshape(len(key_values), 24)
    pairs = np.unique(inverse.astype(np.int64) * 1_000_000 + everything.day)
    days_heard = np.bincount(pairs // 1_000_000, minlength=len(key_values))
    span = int(everything.day.max() - everything.day.min()) + 1
    regular = (counts >= 30) & (days_heard >= max(5, 0.6 * span))
    candidates = np.flatnonzero(regular & (hours == 0).any(axis=1))
    rows = heldout.take(pick(per_kind * 5))
    row_index = np.searchsorted(
        key_values, _station_keys(rows, stations, channels.channel_of(rows.frequency_hz))
    )
    mask = np.isin(row_index, candidates)
    for i in np.flatnonzero(mask):
        quiet = np.flatnonzero(hours[row_index[i]] == 0)
        rows.hour[i] = int(quiet[int(rng.integers(len(quiet)))])
    _add(parts, kinds, rows.take(np.flatnonzero(mask)[:per_kind]), "off_hour")
    return _concat(parts), np.concatenate(kinds)


def _set_strength(rows: Observations, i: int, level: float) -> None:
    if rows.features is not None:
        rows.features[i, 2] += level - rows.strength_db[i]  # the SNR follows
        rows.features[i, 3] = level
    rows.strength_db[i] = level


def _add(parts, kinds, rows: Observations, kind: str) -> None:
    parts.append(rows)
    kinds.append(np.full(len(rows), kind))


def _concat(parts: list[Observations]) -> Observations:
    fields = parts[0].__dict__
    return Observations(
        **{
            name: (
                None
                if any(getattr(p, name) is None for p in parts)
                else np.concatenate([getattr(p, name) for p in parts])
            )
            for name in fields
        }
    )


def to_rows(obs: Observations) -> list[dict]:
    """Detection rows (as ingest scores them) for scorers that take rows: the day number
    is a proleptic ordinal (datetime.toordinal)."""
    rows = []
    for i in range(len(obs)):
        when = datetime.fromordinal(int(obs.day[i])).replace(tzinfo=UTC) + timedelta(
            hours=int(obs.hour[i])
        )
        features = {}
        if obs.features is not None:
            centroid, _, snr, _ = obs.features[i]
            features = {
                "spectral_centroid": float(centroid),
                "bandwidth": float(obs.bandwidth_hz[i]),
                "snr_estimate": float(snr),
            }
        rows.append(
            {
                "websdr_station_id": str(obs.station[i]),
                "frequency_hz": int(obs.frequency_hz[i]),
                "detection_timestamp": when,
                "signal_strength_db": float(obs.strength_db[i]),
                "bandwidth_hz": int(obs.bandwidth_hz[i]),
                "modulation_type": str(obs.modulation[i]),
                "signal_features": features,
            }
        )
    return rows


def recall_at(normal: np.ndarray, anomalous: np.ndarray, rate: float) -> float:
    """Share of `anomalous` scores above the normal scores' (1 − rate) quantile."""
    if not len(anomalous) or not len(normal):
        return float("nan")
    threshold = np.quantile(normal, 1.0 - rate, method="higher")
    return float((anomalous > threshold).mean())


def roc_auc(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """P(anomalous score > normal score) + ½ P(equal): the area under the ROC curve."""
    if not len(anomalous) or not len(normal):
        return float("nan")
    both = np.concatenate([normal, anomalous])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(len(both))
    sorted_values = both[order]
    # average ranks of ties
    _, first, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(average, counts)
    r = ranks[len(normal) :].sum()
    n1, n0 = len(anomalous), len(normal)
    return float((r - n1 * (n1 + 1) / 2) / (n1 * n0))


def report(normal: np.ndarray, anomalous: np.ndarray, kinds: np.ndarray) -> dict:
    """{kind or "overall": {"recall_at_1pct", "recall_at_2pct", "roc_auc", "n"}}."""
    result = {}
    for kind in (*KINDS, "overall"):
        scores = anomalous if kind == "overall" else anomalous[kinds == kind]
        result[kind] = {
            "recall_at_1pct": round(recall_at(normal, scores, 0.01), 4),
            "recall_at_2pct": round(recall_at(normal, scores, 0.02), 4),
            "roc_auc": round(roc_auc(normal, scores), 4),
            "n": len(scores),
        }
    return result
