"""The context anomaly model: what each station normally hears on each channel, at each hour.

Learnt from stored detections (apps.training.anomaly trains it as a training
job; bench/anomalies.py measures it). Per station and channel
(apps.anomalies.channels: 3 kHz below 30 MHz, 12.5 kHz above) it keeps the
number of detections and of days heard, occupancy by hour of day (UTC), the
strength distribution (median, 99th percentile, a robust spread from the 16th
and 84th percentiles) and the 99th percentile of the bandwidth; per station and
band segment (25 kHz / 250 kHz) the modulations seen, the bandwidth's and the
strength's 99th percentiles and how often new channels appeared in the later
part of the history (the segment's "novelty rate": new carriers are ordinary in an
HF SSB segment, extraordinary on a VHF repeater raster). A feature-density model
(apps.ml.density, the Gaussian mixture of the predict features) rides along.

A detection gets one sub-score in [0, 1] per way of being unusual, each about
0.5 where that evidence starts to be unusual, and its anomaly score is the
largest; the reason is the one that gave it:

=====================  =====================================================
new_carrier            channel never heard at this station:
                       0.97 · exp(−20 · novelty rate) · (1 − exp(−days / 2))
off_hour_activity      share p of the channel's detections at hour h, the hours
                       h±1 counting 0.25 · 3 / (3 + days heard) each (smoothing
                       that fades with evidence), r = p / (1.5/24):
                       0.95 · regular · exp(−8 r)
power_jump             the largest of: z = (strength − median) / spread:
                       regular · (1 − exp(−n / 20)) · σ(3 (z − 3)); for
                       what is not regular (random contacts, each at its own
                       level; channels never heard), over = strength − max(the
                       station's segment 99th percentile, the channel's):
                       0.9 · (1 − regular) · (1 − exp(−n_segment / 30)) · σ(over);
                       and, where the contact's recent level L is known (the
                       mean of its last k ≤ 5 detections on the channel in 10
                       minutes: `recent_levels`; given by the caller, not
                       learnt), z_c = (strength − L) / (4 dB · sqrt(1 + 1/k)):
                       0.9 · σ(3 (z_c − 3))  (`contact_jump`)
unexpected_modulation  share f of the segment's detections with this modulation:
                       0.95 · (1 − exp(−n_segment / 30)) · exp(−f / 0.01)
wideband_emission      bandwidth over the segment's 99th percentile:
                       σ(4 (log2(ratio) − 1))
unusual_signal_pattern the density model's score × density_weight (0.6)
=====================  =====================================================

(σ: the logistic function; regular: how much the channel has a regular user,
(1 − exp(−(days heard − 1) / 2)) · σ(10 (days heard / station days − 0.5)).)
Everything is arrays: a batch of n detections costs a few `searchsorted` over
the sorted (station, channel) keys, no Python per row. Stored as one `.npz` of
plain arrays, loaded with `allow_pickle=False` (a bundle stored before
`seg_s99` existed loads with no segment ceiling). The contact levels need nothing
in the bundle: any bundle scores them, and rows without one (NaN) get 0 there.
"""

import io
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from apps.anomalies import channels
from apps.ml.density import FEATURES, GaussianMixtureModel, numbers

KIND = "context_density"
REASONS = (
    "new_carrier",
    "off_hour_activity",
    "power_jump",
    "unexpected_modulation",
    "wideband_emission",
    "unusual_signal_pattern",
)
DEFAULT_PARAMS = {
    "hf_channel_hz": channels.HF_CHANNEL_HZ,
    "vhf_channel_hz": channels.VHF_CHANNEL_HZ,
    "hf_segment_hz": channels.HF_SEGMENT_HZ,
    "vhf_segment_hz": channels.VHF_SEGMENT_HZ,
    "density_weight": 0.6,
}
_STATION_SHIFT = 36  # keys: station index << 36 | centre frequency in Hz (< 68 GHz)
_ARRAYS = (
    "stations", "modulations", "station_days", "ch_keys", "ch_n", "ch_days", "ch_hours",
    "ch_s50", "ch_s99", "ch_spread", "ch_bw99", "seg_keys", "seg_n", "seg_mods", "seg_bw99",
    "seg_novelty", "seg_s99",
)  # fmt: skip
# Added after models were stored: what an older bundle without them reads as.
_LATER_ARRAYS = {"seg_s99": np.inf}
# The hour profile's neighbouring hours count for NEIGHBOUR_WEIGHT of an hour, shrunk
# as days of evidence grow (a channel heard on 11 days and never once at 18 UTC has a
# schedule edge there, not a gap to smooth over): weight · PRIOR / (PRIOR + days heard).
NEIGHBOUR_WEIGHT = 0.25
NEIGHBOUR_PRIOR_DAYS = 3.0
# A contact's recent level: the mean strength of the same station's last CONTACT_DEPTH
# earlier detections on the same channel, no older than CONTACT_WINDOW_S (an SSB contact
# lasts 10-60 minutes; a detection every ~2 minutes gives 5 in 10 minutes).
CONTACT_WINDOW_S = 600.0
CONTACT_DEPTH = 5
# Over the contact's level: z = (strength − level) / (FADING · sqrt(1 + 1/k)) for a mean of
# k detections, each fading CONTACT_FADING_DB (HF); scored CONTACT_WEIGHT · σ(3 (z − Z)).
CONTACT_FADING_DB = 4.0
CONTACT_WEIGHT = 0.9
CONTACT_Z = 3.0


class Recent(NamedTuple):
    """Contacts' recent levels, one per row: the mean strength (dB, NaN: none known) of
    the `count` detections it was found from (0: none)."""

    level_db: np.ndarray
    count: np.ndarray


@dataclass
class Observations:
    """Detections as arrays (n rows): station ids, frequency (Hz), UTC hour (0-23), day
    number (any origin, whole days), strength (dB), bandwidth (Hz, 0 if unknown),
    modulation names; `features` the density model's inputs (n × 4, NaN where missing);
    optionally times and the contact's recent level (below)."""

    station: np.ndarray
    frequency_hz: np.ndarray
    hour: np.ndarray
    day: np.ndarray
    strength_db: np.ndarray
    bandwidth_hz: np.ndarray
    modulation: np.ndarray
    features: np.ndarray | None = None
    # Seconds (any origin): only the evaluation needs them, to find each row's contact
    # level (`recent_levels`); ingest finds the levels itself (apps.ml.contacts).
    time_s: np.ndarray | None = None
    # The contact's recent level (dB, NaN: none known) and how many detections it is the
    # mean of (0: none; None: one assumed): `recent_levels`.
    recent_strength_db: np.ndarray | None = None
    recent_count: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frequency_hz)

    def take(self, mask) -> "Observations":
        return Observations(
            **{
                name: (None if value is None else value[mask])
                for name, value in self.__dict__.items()
            }
        )

    @classmethod
    def from_rows(cls, rows: list[dict]) -> "Observations":
        """From detection rows as ingested or stored (`websdr_station_id`, `frequency_hz`,
        `detection_timestamp` (aware datetime), `signal_strength_db`, `bandwidth_hz`,
        `modulation_type`, `signal_features`)."""
        stamps = [row["detection_timestamp"] for row in rows]
        extra = [row.get("signal_features") or {} for row in rows]
        # signal_features may name signal_power or bandwidth themselves: theirs win.
        given = {
            "signal_power": [row["signal_strength_db"] for row in rows],
            "bandwidth": [row.get("bandwidth_hz") for row in rows],
        }
        features = np.empty((len(rows), len(FEATURES)))
        for column, name in enumerate(FEATURES):
            if name in given:
                values = [f.get(name, v) for f, v in zip(extra, given[name], strict=True)]
            else:
                values = [f.get(name) for f in extra]
            features[:, column] = numbers(values)
        return cls(
            station=np.array([row["websdr_station_id"] for row in rows], dtype=str),
            frequency_hz=np.array([row["frequency_hz"] for row in rows], dtype=np.int64),
            hour=np.array([t.hour for t in stamps], dtype=np.int64),
            day=np.array([t.toordinal() for t in stamps], dtype=np.int64),
            strength_db=np.array([row["signal_strength_db"] for row in rows], dtype=float),
            bandwidth_hz=np.array([row.get("bandwidth_hz") or 0 for row in rows], dtype=float),
            modulation=np.array([row.get("modulation_type") or "" for row in rows], dtype=str),
            features=features,
        )


def recent_levels(
    station: np.ndarray,
    frequency_hz: np.ndarray,
    time_s: np.ndarray,
    strength_db: np.ndarray,
    *,
    window_s: float = CONTACT_WINDOW_S,
    depth: int = CONTACT_DEPTH,
) -> Recent:
    """Each row's contact level (`Recent`: mean dB, NaN where none; how many rows it is
    the mean of; both (n,)). The rows averaged are the nearest `depth` of the same station and
    channel (apps.anomalies.channels, default steps) that are strictly earlier
    (`time_s`, seconds) and at most `window_s` earlier. Rows may come in any order.
    `station`: ids or integer codes (equal values: the same station).

    One lexsort and `depth` vectorised steps: no Python per row.
    """
    station = np.asarray(station)
    if station.dtype.kind not in "iu":
        station = np.unique(station, return_inverse=True)[1]
    key = _keys(station, channels.channel_of(np.asarray(frequency_hz)))
    return recent_by_key(key, time_s, strength_db, window_s=window_s, depth=depth)


def recent_by_key(
    key: np.ndarray,
    time_s: np.ndarray,
    strength_db: np.ndarray,
    *,
    window_s: float = CONTACT_WINDOW_S,
    depth: int = CONTACT_DEPTH,
) -> Recent:
    """`recent_levels` with the (station, channel) already one int64 `key` per row."""
    t = np.asarray(time_s, dtype=float)
    times, levels, _ = nearest_earlier(key, t, strength_db, depth=depth)
    return level_within(t, times, levels, window_s=window_s)


def nearest_earlier(key: np.ndarray, time_s: np.ndarray, strength_db: np.ndarray, *, depth: int):
    """Each row's `depth` nearest strictly earlier rows of the same key: (times, levels),
    both (depth × n: candidates first, so reductions run along the long axis), nearest
    first, -inf / 0 where there are fewer; and the order that sorts the rows by (key,
    time) (n). One lexsort and `depth` vectorised steps."""
    n = len(key)
    t = np.asarray(time_s, dtype=float)
    order = np.lexsort((t, key))
    key, t, level = key[order], t[order], np.asarray(strength_db, dtype=float)[order]
    position = np.arange(n)
    new_key = np.ones(n, dtype=bool)
    new_key[1:] = key[1:] != key[:-1]
    group_start = np.maximum.accumulate(np.where(new_key, position, 0))
    # Rows at the same time are not earlier than each other: count back from the first.
    new_time = new_key.copy()
    new_time[1:] |= t[1:] != t[:-1]
    tie_start = np.maximum.accumulate(np.where(new_time, position, 0))
    earlier = tie_start - np.arange(1, depth + 1)[:, None]  # depth × n, nearest first
    ok = earlier >= group_start
    source = np.maximum(earlier, 0)
    times, levels = np.empty((depth, n)), np.empty((depth, n))
    times[:, order] = np.where(ok, t[source], -np.inf)
    levels[:, order] = np.where(ok, level[source], 0.0)
    return times, levels, order


def level_within(time_s: np.ndarray, times: np.ndarray, levels: np.ndarray, *, window_s: float):
    """`Recent` of each row (n) from its candidates (times, levels: m × n): the mean of
    those strictly earlier than the row's time and at most `window_s` earlier."""
    t = np.asarray(time_s, dtype=float)
    ok = (times < t) & (times >= t - window_s)
    count = ok.sum(axis=0)
    total = np.where(ok, levels, 0.0).sum(axis=0)
    mean = np.full(len(count), np.nan)
    has = count > 0
    mean[has] = total[has] / count[has]
    return Recent(mean, count)


def _lookup(table: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index into sorted `table`, found mask) for each value."""
    if len(table) == 0:
        return np.zeros(len(values), dtype=np.int64), np.zeros(len(values), dtype=bool)
    index = np.minimum(np.searchsorted(table, values), len(table) - 1)
    return index, table[index] == values


def _keys(station_index: np.ndarray, centre_hz: np.ndarray) -> np.ndarray:
    return (station_index.astype(np.int64) << _STATION_SHIFT) | centre_hz.astype(np.int64)


def _grouped_quantiles(group: np.ndarray, counts: np.ndarray, values: np.ndarray, qs):
    """For each group 0..G-1 (all non-empty), the qs quantiles (lower) of its values."""
    order = np.lexsort((values, group))
    ordered = values[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return [ordered[starts + np.floor(q * (counts - 1)).astype(np.int64)] for q in qs]


def _sigmoid(x):
    with np.errstate(over="ignore"):  # exp(inf): the limit, 0, is the answer
        return 1.0 / (1.0 + np.exp(-x))


def contact_jump(obs: Observations) -> np.ndarray:
    """The power_jump sub-score from the contact's own recent level (n, in [0, 1]; 0
    where none is known): CONTACT_WEIGHT · σ(3 (z − CONTACT_Z)) with z the dB over the
    level in units of the fading of one detection against a mean of k,
    CONTACT_FADING_DB · sqrt(1 + 1/k) (5.7 dB for k = 1, 4.4 dB for k = 5).

    +15 dB over a level of 5 detections scores 0.70 (z 3.4), over one detection 0.23
    (z 2.7: a single earlier detection says little); ordinary fading (z < 2) under 0.05.
    """
    count = obs.recent_count if obs.recent_count is not None else np.ones(len(obs))
    spread = CONTACT_FADING_DB * np.sqrt(1.0 + 1.0 / np.maximum(count, 1))
    with np.errstate(invalid="ignore"):
        z = (obs.strength_db - obs.recent_strength_db) / spread
    return np.where(np.isfinite(z), CONTACT_WEIGHT * _sigmoid(3.0 * (z - CONTACT_Z)), 0.0)


_VOWEL_LETTERS = set("AEFHILMNORSX")  # letters whose names start with a vowel sound


def _mode_name(modulation: str) -> str:
    return "SSB" if modulation in {"USB", "LSB"} else modulation


def _article(word: str) -> str:
    return "an" if word and word[0].upper() in _VOWEL_LETTERS else "a"


@dataclass
class Verdict:
    """Scores of a batch: `score` (n), `reason` (n, index into REASONS) and the
    per-row values the descriptions quote."""

    score: np.ndarray
    reason: np.ndarray
    detail: dict = field(default_factory=dict)


@dataclass
class ContextModel:
    stations: np.ndarray
    modulations: np.ndarray
    station_days: np.ndarray
    ch_keys: np.ndarray
    ch_n: np.ndarray
    ch_days: np.ndarray
    ch_hours: np.ndarray
    ch_s50: np.ndarray
    ch_s99: np.ndarray
    ch_spread: np.ndarray
    ch_bw99: np.ndarray
    seg_keys: np.ndarray
    seg_n: np.ndarray
    seg_mods: np.ndarray
    seg_bw99: np.ndarray
    seg_novelty: np.ndarray
    seg_s99: np.ndarray
    params: dict
    density: GaussianMixtureModel | None = None

    # --- scoring ---------------------------------------------------------------------

    def _channel_keys(self, obs: Observations, station_index):
        p = self.params
        centre = channels.channel_of(
            obs.frequency_hz, hf_step=p["hf_channel_hz"], vhf_step=p["vhf_channel_hz"]
        )
        segment = channels.segment_of(
            obs.frequency_hz, hf_step=p["hf_segment_hz"], vhf_step=p["vhf_segment_hz"]
        )
        return _keys(station_index, centre), _keys(station_index, segment)

    def score(self, obs: Observations) -> Verdict:
        """Each detection's anomaly score (0-1), the reason (index into REASONS) and the
        values its description quotes."""
        n = len(obs)
        si, known_station = _lookup(self.stations, obs.station)
        ch_key, seg_key = self._channel_keys(obs, si)
        ci, ch_found = _lookup(self.ch_keys, ch_key)
        gi, seg_found = _lookup(self.seg_keys, seg_key)
        ch_found &= known_station
        seg_found &= known_station
        components = np.zeros((len(REASONS), n))

        days = self.station_days[si] if len(self.stations) else np.zeros(n)
        novelty = np.where(seg_found, self.seg_novelty[gi] if len(self.seg_keys) else 0.0, 0.0)
        components[0] = np.where(
            known_station & ~ch_found,
            0.97 * np.exp(-30.0 * novelty) * (1.0 - np.exp(-days / 2.0)),
            0.0,
        )
        if len(self.ch_keys):
            hours = self.ch_hours[ci]
            h = obs.hour % 24
            rows = np.arange(n)
            days_heard = self.ch_days[ci]
            weight = NEIGHBOUR_WEIGHT * NEIGHBOUR_PRIOR_DAYS / (NEIGHBOUR_PRIOR_DAYS + days_heard)
            near = hours[rows, h] + weight * (hours[rows, (h - 1) % 24] + hours[rows, (h + 1) % 24])
            share = near / np.maximum(self.ch_n[ci], 1)
            # A regular user of the channel (heard on most days of the station's history)
            # keeps its hours and its level; random contacts that reuse a channel do not.
            share_of_days = days_heard / np.maximum(days, 1.0)
            regular = (1.0 - np.exp(-np.maximum(days_heard - 1.0, 0.0) / 2.0)) * _sigmoid(
                10.0 * (share_of_days - 0.5)
            )
            components[1] = np.where(
                ch_found, 0.95 * regular * np.exp(-8.0 * share / (1.5 / 24.0)), 0.0
            )
            # The spread shrinks toward 4 dB (HF fading) while the channel has few rows.
            n_ch = self.ch_n[ci]
            spread = np.sqrt((n_ch * self.ch_spread[ci] ** 2 + 10.0 * 16.0) / (n_ch + 10.0))
            z = (obs.strength_db - self.ch_s50[ci]) / spread
            components[2] = np.where(
                ch_found, regular * (1.0 - np.exp(-n_ch / 20.0)) * _sigmoid(3.0 * (z - 3.0)), 0.0
            )
        else:
            days_heard = z = np.zeros(n)
            regular = np.zeros(n)
        if len(self.seg_keys):
            # A channel without a regular user (random contacts, each at its own level: a
            # mixture no median describes) or never heard: stronger than both the most
            # this station hears in the segment and the channel's own 99th percentile.
            ceiling = self.seg_s99[gi]
            if len(self.ch_keys):
                ceiling = np.where(ch_found, np.maximum(ceiling, self.ch_s99[ci]), ceiling)
            with np.errstate(invalid="ignore"):
                over = np.nan_to_num(obs.strength_db - ceiling, nan=-np.inf, posinf=np.inf)
            regular_here = np.where(ch_found, regular, 0.0)  # ci is a neighbour's otherwise
            # A ceiling read from few detections is no ceiling (the evidence factor the
            # modulation check uses: n_segment / 30).
            evidence = 1.0 - np.exp(-self.seg_n[gi] / 30.0)
            above_segment = np.where(
                seg_found, 0.9 * evidence * (1.0 - regular_here) * _sigmoid(over), 0.0
            )
            over_segment = above_segment > components[2]
            components[2] = np.maximum(components[2], above_segment)
        else:
            over_segment = np.zeros(n, dtype=bool)
        over_contact = np.zeros(n, dtype=bool)
        if obs.recent_strength_db is not None:
            above_contact = contact_jump(obs)
            over_contact = above_contact > components[2]
            over_segment &= ~over_contact
            components[2] = np.maximum(components[2], above_contact)
        modulation_share = np.zeros(n)
        if len(self.seg_keys):
            mi, known_mod = _lookup(self.modulations, obs.modulation)
            seg_n = np.maximum(self.seg_n[gi], 1)
            modulation_share = np.where(known_mod, self.seg_mods[gi, mi] / seg_n, 0.0)
            components[3] = np.where(
                seg_found & (obs.modulation != ""),
                0.95 * (1.0 - np.exp(-self.seg_n[gi] / 30.0)) * np.exp(-modulation_share / 0.01),
                0.0,
            )
            ratio = obs.bandwidth_hz / np.maximum(self.seg_bw99[gi], 1.0)
            with np.errstate(divide="ignore"):
                components[4] = np.where(
                    seg_found & (obs.bandwidth_hz > 0),
                    _sigmoid(4.0 * (np.log2(np.maximum(ratio, 1e-9)) - 1.0)),
                    0.0,
                )
        if self.density is not None and obs.features is not None:
            complete = ~np.isnan(obs.features).any(axis=1)
            if complete.any():
                scores, _, _ = self.density.score(obs.features[complete])
                components[5, complete] = self.params["density_weight"] * scores
        reason = components.argmax(axis=0)
        return Verdict(
            score=components[reason, np.arange(n)],
            reason=reason,
            detail={
                "station_days": days,
                "station_index": si,
                "segment_index": gi,
                "segment_found": seg_found,
                "channel_index": ci,
                "over_segment": over_segment,
                "over_contact": over_contact,
                "days_heard": days_heard,
                "z": z,
                "modulation_share": modulation_share,
            },
        )

    def describe(self, obs: Observations, verdict: Verdict, i: int) -> str:
        """What was unusual about detection i, in an operator's words."""
        reason = REASONS[int(verdict.reason[i])]
        d = verdict.detail
        if reason == "new_carrier":
            return f"new carrier in a channel quiet for {d['station_days'][i]:.0f} days"
        if reason == "off_hour_activity":
            return (
                f"activity at {int(obs.hour[i]):02d}h UTC in a channel quiet at that hour "
                f"({int(d['days_heard'][i])} days heard)"
            )
        ci = int(d["channel_index"][i])
        gi = int(d["segment_index"][i])
        if reason == "power_jump":
            if d["over_contact"][i]:
                return (
                    f"+{obs.strength_db[i] - obs.recent_strength_db[i]:.0f} dB over this "
                    f"contact's level of the last {CONTACT_WINDOW_S / 60:.0f} minutes"
                )
            if d["over_segment"][i]:
                return (
                    f"+{obs.strength_db[i] - self.seg_s99[gi]:.0f} dB over the 99th "
                    "percentile of this band segment, on a channel without a regular user"
                )
            over_p99 = obs.strength_db[i] - self.ch_s99[ci]
            if over_p99 > 0:
                return f"+{over_p99:.0f} dB over this channel's 99th percentile"
            return f"+{obs.strength_db[i] - self.ch_s50[ci]:.0f} dB over this channel's median"
        if reason == "unexpected_modulation":
            dominant = _mode_name(str(self.modulations[int(self.seg_mods[gi].argmax())]))
            mode = _mode_name(str(obs.modulation[i]))
            return f"{mode} in {_article(dominant)} {dominant} segment"
        if reason == "wideband_emission":
            return (
                f"wideband emission {obs.bandwidth_hz[i] / 1000:.0f} kHz wide "
                f"(99 % here under {self.seg_bw99[gi] / 1000:.1f} kHz)"
            )
        return "unusual combination of signal features"

    # --- storage -----------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        params = np.array([float(self.params[k]) for k in sorted(DEFAULT_PARAMS)])
        if self.density is not None:
            with np.load(io.BytesIO(self.density.to_bytes()), allow_pickle=False) as dens:
                arrays.update({f"density_{k}": dens[k] for k in dens.files})
        np.savez_compressed(buffer, kind=np.array(KIND), params=params, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "ContextModel":
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            if "kind" not in arrays.files or str(arrays["kind"]) != KIND:
                raise ValueError("not a context anomaly model")
            params = dict(zip(sorted(DEFAULT_PARAMS), arrays["params"].tolist(), strict=True))
            for name in ("hf_channel_hz", "vhf_channel_hz", "hf_segment_hz", "vhf_segment_hz"):
                params[name] = int(params[name])
            dens = None
            names = [k for k in arrays.files if k.startswith("density_")]
            if names:
                buffer = io.BytesIO()
                np.savez(buffer, **{k[len("density_") :]: arrays[k] for k in names})
                dens = GaussianMixtureModel.from_bytes(buffer.getvalue())
            stored = {
                name: arrays[name]
                if name in arrays.files
                else np.full(len(arrays["seg_keys"]), _LATER_ARRAYS[name])
                for name in _ARRAYS
            }
            return cls(**stored, params=params, density=dens)


def is_context_model(data: bytes) -> bool:
    """Whether an anomaly bundle's model file is a context model (else a density model)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return "kind" in arrays.files and str(arrays["kind"]) == KIND


def fit(
    obs: Observations,
    *,
    density_model: GaussianMixtureModel | None = None,
    params: dict | None = None,
) -> ContextModel:
    """Learn the context of `obs` (normal traffic, at least one row).

    Raises ValueError on an empty history.
    """
    if len(obs) == 0:
        raise ValueError("no detections to learn from")
    params = {**DEFAULT_PARAMS, **(params or {})}
    stations = np.unique(obs.station)
    si = np.searchsorted(stations, obs.station)
    model = ContextModel(
        stations=stations,
        modulations=np.unique(obs.modulation),
        station_days=np.zeros(len(stations)),
        ch_keys=np.zeros(0, np.int64),
        ch_n=np.zeros(0),
        ch_days=np.zeros(0),
        ch_hours=np.zeros((0, 24)),
        ch_s50=np.zeros(0),
        ch_s99=np.zeros(0),
        ch_spread=np.zeros(0),
        ch_bw99=np.zeros(0),
        seg_keys=np.zeros(0, np.int64),
        seg_n=np.zeros(0),
        seg_mods=np.zeros((0, 0)),
        seg_bw99=np.zeros(0),
        seg_novelty=np.zeros(0),
        seg_s99=np.zeros(0),
        params=params,
        density=density_model,
    )
    ch_key, seg_key = model._channel_keys(obs, si)
    first_day = np.full(len(stations), np.iinfo(np.int64).max)
    last_day = np.full(len(stations), np.iinfo(np.int64).min)
    np.minimum.at(first_day, si, obs.day)
    np.maximum.at(last_day, si, obs.day)
    model.station_days = (last_day - first_day + 1).astype(float)

    model.ch_keys, inv = np.unique(ch_key, return_inverse=True)
    k = len(model.ch_keys)
    model.ch_n = np.bincount(inv, minlength=k).astype(float)
    model.ch_hours = np.bincount(inv * 24 + obs.hour % 24, minlength=k * 24).reshape(k, 24)
    day0 = int(obs.day.min())
    span = int(obs.day.max()) - day0 + 1
    pairs = np.unique(inv.astype(np.int64) * span + (obs.day - day0))
    model.ch_days = np.bincount(pairs // span, minlength=k).astype(float)
    counts = model.ch_n.astype(np.int64)
    p16, p50, p84, p99 = _grouped_quantiles(inv, counts, obs.strength_db, (0.16, 0.5, 0.84, 0.99))
    model.ch_s50, model.ch_s99 = p50, p99
    model.ch_spread = np.maximum((p84 - p16) / 2.0, 1.0)
    (model.ch_bw99,) = _grouped_quantiles(inv, counts, obs.bandwidth_hz, (0.99,))

    model.seg_keys, sinv = np.unique(seg_key, return_inverse=True)
    s, m = len(model.seg_keys), len(model.modulations)
    model.seg_n = np.bincount(sinv, minlength=s).astype(float)
    mi = np.searchsorted(model.modulations, obs.modulation)
    model.seg_mods = np.bincount(sinv * m + mi, minlength=s * m).reshape(s, m).astype(float)
    (model.seg_bw99,) = _grouped_quantiles(
        sinv, model.seg_n.astype(np.int64), obs.bandwidth_hz, (0.99,)
    )
    (model.seg_s99,) = _grouped_quantiles(
        sinv, model.seg_n.astype(np.int64), obs.strength_db, (0.99,)
    )
    # Novelty rate: how often a free channel of the segment got its first carrier on a day
    # of the last third of the history (new channels ÷ (late days × free channels before)).
    cut = day0 + math.ceil(span * 2 / 3)
    late_days = max(day0 + span - cut, 1)
    first = np.full(k, np.iinfo(np.int64).max)
    np.minimum.at(first, inv, obs.day)
    ch_station = model.ch_keys >> _STATION_SHIFT
    ch_centre = model.ch_keys & ((1 << _STATION_SHIFT) - 1)
    hf = ch_centre < channels.HF_EDGE_HZ
    ch_segment = _keys(
        ch_station,
        channels.segment_of(
            ch_centre, hf_step=params["hf_segment_hz"], vhf_step=params["vhf_segment_hz"]
        ),
    )
    seg_of_ch, found = _lookup(model.seg_keys, ch_segment)
    new = np.bincount(seg_of_ch[found], weights=(first >= cut)[found], minlength=s)
    old = np.bincount(seg_of_ch[found], weights=(first < cut)[found], minlength=s)
    capacity = np.where(
        model.seg_keys & ((1 << _STATION_SHIFT) - 1) < channels.HF_EDGE_HZ,
        params["hf_segment_hz"] / params["hf_channel_hz"],
        params["vhf_segment_hz"] / params["vhf_channel_hz"],
    )
    free = np.maximum(capacity - old, 1.0)
    model.seg_novelty = (new + 0.1) / (late_days * free + 1.0)
    del hf
    return model
