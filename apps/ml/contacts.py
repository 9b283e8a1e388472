"""Contacts' recent levels at ingest: what each station heard on each channel in the last
minutes, so that the context model judges a detection against its contact's own level
(apps.ml.context.contact_jump: a jump to -75 dB from a contact at -95 looks like an
ordinary new contact at -75 when the row is judged alone).

A row's level (context.recent_levels: the mean of the same station's last
CONTACT_DEPTH earlier detections on the channel, within CONTACT_WINDOW_S) comes from

- the batch's own rows, earlier by timestamp (any order in the request), and
- this process's store of the levels of committed batches (`remember`, called after
  commit: a rolled-back batch leaves nothing), per (station, channel) the last
  CONTACT_DEPTH + STORE_TIES (time, dB), entries older than the window pruned, at most
  MAX_KEYS keys
  (the least recently heard go first).

No database query: scoring runs while the connection streams a COPY. The store is per
process: a station fed by one process (its collector, or one API client's requests to
one web process) is judged fully; web processes splitting one station's batches each see
only their own; after a restart the first minutes have no recent levels. Times are
seconds since the epoch; a stored level newer than a row (a backfilled recording) is not
earlier than it, so not used. Cost: a few vectorised passes over the batch and a dict
look-up per (station, channel) key.
"""

import threading
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from operator import itemgetter
from time import time as wall_clock

import numpy as np

from apps.anomalies import channels
from apps.ml.context import (
    CONTACT_DEPTH,
    CONTACT_WINDOW_S,
    Recent,
    level_within,
    nearest_earlier,
)

MAX_KEYS = 1 << 16  # (station, channel) keys kept: 2 × 8 × 8 bytes each, ~8 MB in all
# Entries kept per key beyond CONTACT_DEPTH: a row at the same time as the newest stored
# ones cannot count them (not earlier), so with only CONTACT_DEPTH kept a batch cut
# between two detections of one instant judged the later one on 4 levels where the whole
# stream gives 5. Up to STORE_TIES detections of one instant per channel are covered.
STORE_TIES = 3
MAX_STATIONS = 1 << 16  # station codes before the store starts afresh (< 2**27 fit a key)
PRUNE_EVERY_S = CONTACT_WINDOW_S / 10
_STATION_SHIFT = 36  # as context._keys: code << 36 | channel centre in Hz


class _Store:
    """Per (station, channel) key a slot: its newest CONTACT_DEPTH times (newest first;
    -inf: empty) and levels. Every access under `lock`; `version` changes with every
    write, so a batch can tell whether what it read is still what is stored."""

    def __init__(self, capacity: int = MAX_KEYS, depth: int = CONTACT_DEPTH + STORE_TIES):
        self.lock = threading.Lock()
        self.capacity, self.depth = capacity, depth
        self.version = 0
        self.clear()

    def clear(self) -> None:
        self.version += 1  # station codes and slots given out are void
        self.codes: dict[str, int] = {}  # station id → code
        self.slot_of: dict[int, int] = {}  # key → slot
        self.key = np.zeros(self.capacity, dtype=np.int64)
        self.time = np.full((self.capacity, self.depth), -np.inf)
        self.level = np.zeros((self.capacity, self.depth))
        self.codes_version = self.version
        self.next_prune = -np.inf

    def station_codes(self, stations: list) -> np.ndarray:
        codes = self.codes
        for station in set(stations) - codes.keys():
            codes[station] = len(codes)
        return np.fromiter(map(codes.__getitem__, stations), np.int64, len(stations))

    def entries(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(slots (k, -1: none), times, levels (k × depth)) of `keys`."""
        slots = np.fromiter(map(self.slot_of.get, keys.tolist(), repeat(-1)), np.int64, len(keys))
        return slots, self._rows(self.time, slots, -np.inf), self._rows(self.level, slots, 0.0)

    @staticmethod
    def _rows(table: np.ndarray, slots: np.ndarray, empty: float) -> np.ndarray:
        rows = table[np.maximum(slots, 0)]
        rows[slots < 0] = empty
        return rows

    def prune(self, now: float) -> None:
        """Free the slots heard last longer than the window ago; at most once every
        PRUNE_EVERY_S (a scan of the whole store: a batch of a few rows must not pay it)."""
        if now < self.next_prune:
            return
        self.next_prune = now + PRUNE_EVERY_S
        latest = self.time[:, 0]
        stale = np.flatnonzero((latest < now - CONTACT_WINDOW_S) & np.isfinite(latest))
        self._free(stale)

    def _free(self, slots: np.ndarray) -> None:
        if not len(slots):
            return
        for key in self.key[slots].tolist():  # once per key ever stored: amortised
            del self.slot_of[key]
        self.time[slots] = -np.inf
        self.version += 1

    def write(self, keys: np.ndarray, slots: np.ndarray, times, levels) -> None:
        """Store each key's (times, levels) (k × depth) in its slot (`slots`, -1: a new
        key, given a free slot; when the store is full the least recently heard go)."""
        new = np.flatnonzero(slots < 0)
        if len(new):
            latest = self.time[:, 0]
            free = np.flatnonzero(~np.isfinite(latest))
            if len(free) < len(new):
                # A quarter of the store at least, so that a stream of new keys pays for
                # this once per many batches.
                busy = np.flatnonzero(np.isfinite(latest))
                count = min(len(busy), max(len(new) - len(free), self.capacity // 4))
                if count:
                    self._free(busy[np.argpartition(latest[busy], count - 1)[:count]])
                free = np.flatnonzero(~np.isfinite(self.time[:, 0]))
            if len(free) < len(new):  # more new keys than the store holds: the newest
                new = new[np.argsort(-times[new, 0], kind="stable")[: len(free)]]
            slots = slots.copy()
            slots[new] = free[: len(new)]
            self.slot_of.update(zip(keys[new].tolist(), slots[new].tolist(), strict=True))
        written = slots >= 0
        target = slots[written]
        self.key[target] = keys[written]
        self.time[target], self.level[target] = times[written], levels[written]
        self.version += 1


_STORE = _Store()


def _before(times: np.ndarray, levels: np.ndarray, time_s: np.ndarray):
    """Candidate lists (m × n, newest first) without the entries at or after each
    column's time (a stored level newer than a backfilled detection is not before it):
    those are the first ones, so the rest move up."""
    later = (times >= time_s).sum(axis=0)
    source = np.arange(len(times))[:, None] + later
    inside = source < len(times)
    source = np.minimum(source, len(times) - 1)
    return (
        np.where(inside, np.take_along_axis(times, source, axis=0), -np.inf),
        np.take_along_axis(levels, source, axis=0),
    )


def _merge(a_times, a_levels, b_times, b_levels, depth: int):
    """Per column, the `depth` newest of two candidate lists (m × r each: candidates
    first, newest first; -inf: none), newest first (depth × r; -inf / 0 where fewer). A
    `b` entry equal to an `a` entry in time and level (a batch sent again: its stored
    copy) counts once.

    The usual case, every `a` newer than every `b` (a batch after the stored levels),
    is `a` then `b`; the rest (a backfill, concurrent batches, a batch sent again) are
    ranked by pairwise comparisons (m × m × r). No sort either way."""
    a_count = np.isfinite(a_times).sum(axis=0)
    oldest_a = np.where(
        a_count > 0, a_times[np.maximum(a_count - 1, 0), np.arange(a_times.shape[1])], np.inf
    )
    after = oldest_a > b_times[0]
    step = np.arange(depth)[:, None]
    # a's first a_count entries, then b's: b's entry j - a_count at row j.
    from_b = np.clip(step - a_count, 0, len(b_times) - 1)
    in_a = step < a_count
    times = np.where(in_a, a_times[:depth], np.take_along_axis(b_times, from_b, axis=0))
    levels = np.where(in_a, a_levels[:depth], np.take_along_axis(b_levels, from_b, axis=0))
    times[(step - a_count >= len(b_times)) & ~in_a] = -np.inf
    rest = np.flatnonzero(~after)
    if len(rest):
        times[:, rest], levels[:, rest] = _ranked(
            a_times[:, rest], a_levels[:, rest], b_times[:, rest], b_levels[:, rest], depth
        )
    return times, levels


def _ranked(a_times, a_levels, b_times, b_levels, depth: int):
    """`_merge` for any two lists, by each entry's rank among both."""
    same = (b_times[:, None, :] == a_times[None, :, :]) & (
        b_levels[:, None, :] == a_levels[None, :, :]
    )
    b_times = np.where(same.any(axis=1), -np.inf, b_times)
    b_real = np.isfinite(b_times)
    # An entry's rank: the entries of its own list before it, plus the other list's newer
    # ones (ties: `a` first).
    a_rank = np.arange(len(a_times))[:, None] + (b_times[None, :, :] > a_times[:, None, :]).sum(
        axis=1
    )
    b_rank = (np.cumsum(b_real, axis=0) - b_real) + (
        a_times[None, :, :] >= b_times[:, None, :]
    ).sum(axis=1)
    width = a_times.shape[1]
    times, levels = np.full((depth, width), -np.inf), np.zeros((depth, width))
    for rank, entries, values, real in (
        (a_rank, a_times, a_levels, np.isfinite(a_times)),
        (b_rank, b_times, b_levels, b_real),
    ):
        slot, column = np.nonzero(real & (rank < depth))
        times[rank[slot, column], column] = entries[slot, column]
        levels[rank[slot, column], column] = values[slot, column]
    return times, levels


@dataclass
class BatchContacts:
    """A batch's contacts: each item's level (`recent`, found once for the whole batch,
    so chunks score as the whole batch would); per (station, channel) key of the batch
    (`keys`, sorted) the newest levels of the store and the batch together (times,
    levels: depth × k, newest first), for `remember`; where in the store they were read
    (`slots`, at store `version`)."""

    recent: Recent
    keys: np.ndarray
    times: np.ndarray
    levels: np.ndarray
    slots: np.ndarray
    version: int
    codes_version: int

    def recent_of(self, indices: list[int]) -> Recent:
        """The contact levels of the items at `indices` (positions in the request)."""
        return Recent(self.recent.level_db[indices], self.recent.count[indices])


def batch_contacts(items: list, timestamps: list) -> BatchContacts | None:
    """The contact level of every item of an ingest batch (`timestamps`: the items'
    parsed detection times), from the batch's earlier rows and the store; None when an
    item cannot be read as a detection (the batch will be refused: 400)."""
    n = len(items)
    try:
        # map(itemgetter) into fromiter: a third less than list comprehensions (measured).
        stations = list(map(itemgetter("websdr_station_id"), items))
        frequency = np.fromiter(map(itemgetter("frequency_hz"), items), np.int64, n)
        strength = np.fromiter(map(itemgetter("signal_strength_db"), items), float, n)
        time_s = np.fromiter(map(datetime.timestamp, timestamps), float, n)
        with _STORE.lock:
            if len(_STORE.codes) > MAX_STATIONS:
                _STORE.clear()
            codes = _STORE.station_codes(stations)
            codes_version = _STORE.codes_version
    except (TypeError, KeyError, ValueError, OverflowError):
        return None
    depth, kept = CONTACT_DEPTH, _STORE.depth  # levels a row is judged on; kept per key
    key = (codes << _STATION_SHIFT) | channels.channel_of(frequency)
    keys, inverse = np.unique(key, return_inverse=True)
    with _STORE.lock:
        if _STORE.codes_version != codes_version:  # started afresh: nothing under these codes
            keys = keys[:0]
        slots, stored_times, stored_levels = _STORE.entries(keys)
        version = _STORE.version
    # Candidates per item: its nearest earlier items of the batch and its key's stored
    # levels earlier than it; the newest `depth` of both, then the window. Arrays are
    # candidates × items (or × keys).
    earlier_times, earlier_levels, order = nearest_earlier(key, time_s, strength, depth=depth)
    recent = Recent(np.full(len(key), np.nan), np.zeros(len(key), dtype=np.int64))
    stored_times, stored_levels = stored_times.T, stored_levels.T
    if len(keys):
        mine, mine_levels = _before(stored_times[:, inverse], stored_levels[:, inverse], time_s)
        # Only items with a stored candidate need the merge (new channels have none).
        need = np.flatnonzero(np.isfinite(mine[0]))
        times, levels = earlier_times, earlier_levels
        if len(need):
            times[:, need], levels[:, need] = _merge(
                earlier_times[:, need], earlier_levels[:, need], mine[:, need],
                mine_levels[:, need], depth,
            )  # fmt: skip
        recent = level_within(time_s, times, levels, window_s=CONTACT_WINDOW_S)
        # Per key, its newest `kept` items (sorted by key then time: the end of each run).
        grouped = inverse[order]
        end = np.searchsorted(grouped, np.arange(len(keys)), side="right") - 1
        start = np.searchsorted(grouped, np.arange(len(keys)), side="left")
        back = end[None, :] - np.arange(kept)[:, None]  # newest first
        inside = back >= start[None, :]
        source = order[np.maximum(back, 0)]
        newest_times, newest_levels = _merge(
            np.where(inside, time_s[source], -np.inf),
            np.where(inside, strength[source], 0.0),
            stored_times,
            stored_levels,
            kept,
        )
    else:
        newest_times, newest_levels = np.zeros((kept, 0)), np.zeros((kept, 0))
    return BatchContacts(recent, keys, newest_times, newest_levels, slots, version, codes_version)


def remember(contacts: BatchContacts, now: float | None = None) -> None:
    """Keep the batch's levels, after its commit (every item of a committed batch is
    stored: new, or a duplicate of a stored detection). Levels older than the window
    (`now`: seconds since the epoch, default the clock) are of no use to live traffic:
    a key whose newest is older is not kept. Cost: per (station, channel) key."""
    now = wall_clock() if now is None else now
    recent = contacts.times[0] >= now - CONTACT_WINDOW_S
    store = _STORE
    with store.lock:
        if recent.any() and store.codes_version == contacts.codes_version:
            keys = contacts.keys[recent]
            times, levels = contacts.times[:, recent], contacts.levels[:, recent]
            if store.version == contacts.version:  # what it merged with is still there
                slots = contacts.slots[recent]
            else:  # other batches stored levels since: merge with theirs
                slots, stored_times, stored_levels = store.entries(keys)
                times, levels = _merge(times, levels, stored_times.T, stored_levels.T, store.depth)
            store.write(keys, slots, times.T, levels.T)
        store.prune(now)


def forget() -> None:
    """Start afresh: no level remembered (tests)."""
    with _STORE.lock:
        _STORE.clear()
