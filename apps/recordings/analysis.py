"""Analyzing a recording: the DSP over the whole file in windows, its carriers ingested
as ordinary detections.

Each capture is cut into windows of `window_seconds` (the last one shorter; a
window never spans two captures). Every window is read through a memory map
of its own (sigmf_files.read_window: resident memory stays flat in the file's
size), analysed by apps.radio.dsp.analyze (Welch spectrum, carriers over the
noise floor: docs/signals.md) and each carrier becomes a detection:

- `detection_timestamp`: the capture's `core:datetime` + (window start −
  capture start) / sample rate;
- `frequency_hz`: the capture's `core:frequency` + the carrier's offset;
- `processing_metadata`: `recording_id`, `sample_offset`, `sample_count`,
  `window_seconds`, `fft_size`, `source: "recording"`;
- `id`: a UUID5 of (recording, options, sample offset, carrier index), so a
  second analysis with the same options sends the same ids with the same
  content and apps.signals.services.detection_ingest counts them as
  duplicates: re-analysis stores nothing twice.

An analysis with other options (`window_seconds`, `fft_size`) cuts other windows and
finds the same carriers under other ids. A carrier whose window overlaps (in samples)
a detection an earlier analysis of this recording stored, on the same frequency
(within the larger half-bandwidth, at least two frequency bins of the coarser
analysis), is that detection again: it is counted in `duplicates` and
`stored_by_earlier_analysis`, not sent. Only carriers no earlier analysis saw (a finer
FFT's weaker ones) are new.

Windows holding a NaN or an infinity (floating-point data) are skipped and
counted (`nonfinite_windows`), and so are carriers ingest could not store
(`unstorable_carriers`: a strength over +100 dB from floating-point data far
beyond full scale), instead of failing the whole analysis.

Batches of up to INGEST_BATCH detections go through `detection_ingest`, the
one ingest path (scoring, anomaly events, live feed). Windows older than the
detection retention are skipped and counted. Consecutive windows holding a
carrier of one modulation at one frequency become one proposed clip
(unapproved, labelled with the modulation) for an operator to check.

Status (`analysis_status`): pending → running (progress in percent of
samples) → completed, or failed with the reason; written only here and by
services.recording_analyze_request.
"""

import bisect
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.timeutil import isoformat_z, utc_now
from apps.radio import dsp
from apps.recordings import sigmf_files
from apps.recordings.models import Recording
from apps.recordings.services import (
    DEFAULT_WINDOW_SECONDS,
    MAX_WINDOW_SAMPLES,
    analysis_clips_replace,
    local_data,
)
from apps.signals.models import SignalDetection
from apps.signals.retention import retention_cutoff
from apps.signals.services import detection_ingest
from apps.signals.validation import MAX_BANDWIDTH_HZ, STRENGTH_MAX_DB, STRENGTH_MIN_DB

logger = logging.getLogger(__name__)

ANALYSIS_DEFAULTS = {"window_seconds": DEFAULT_WINDOW_SECONDS, "fft_size": 4096}
FFT_SIZE_MIN, FFT_SIZE_MAX = 64, 65_536
# Non-overlapping Welch segments: every sample is used once, at half the cost of the
# 50 % overlap (the window holds hundreds of segments: the floor estimate needs no more).
OVERLAP = 0.0
INGEST_BATCH = 5_000
MAX_PROPOSED_CLIPS = 500
MIN_PROPOSED_WINDOWS = 2
NAMESPACE = uuid.UUID("5b0e7a52-4c55-4f3a-9a43-2b1d6f0c7e11")
Status = Recording.AnalysisStatus


@dataclass
class _Run:
    """A carrier seen in consecutive windows: a proposed clip."""

    frequency_hz: int
    modulation: str
    first_sample: int
    end_sample: int
    bandwidth_hz: int
    snr_db: float
    windows: int = 1


@dataclass
class _Tracker:
    runs: list[_Run] = field(default_factory=list)
    closed: list[_Run] = field(default_factory=list)

    def feed(self, carriers, start: int, end: int, tolerance_hz: float) -> None:
        still_open = []
        used = set()
        for run in self.runs:
            match = next(
                (
                    k
                    for k, c in enumerate(carriers)
                    if k not in used
                    and c.modulation == run.modulation
                    and abs(c.frequency_hz - run.frequency_hz) <= tolerance_hz
                ),
                None,
            )
            if match is None or run.end_sample != start:
                self.closed.append(run)
                continue
            carrier = carriers[match]
            used.add(match)
            run.end_sample, run.windows = end, run.windows + 1
            run.bandwidth_hz = max(run.bandwidth_hz, carrier.bandwidth_hz)
            run.snr_db = max(run.snr_db, carrier.snr_db)
            still_open.append(run)
        for k, c in enumerate(carriers):
            if k not in used:
                still_open.append(
                    _Run(c.frequency_hz, c.modulation, start, end, c.bandwidth_hz, c.snr_db)
                )
        self.runs = still_open

    def proposals(self, resolution_hz: float, info: sigmf_files.RecordingInfo) -> list[dict]:
        """The runs of at least MIN_PROPOSED_WINDOWS windows as clips, their edges inside
        the band of the captures they lie in (as every clip's: a carrier at the band's
        edge would otherwise make a clip that cannot be approved)."""
        runs = [r for r in self.closed + self.runs if r.windows >= MIN_PROPOSED_WINDOWS]
        runs.sort(key=lambda r: (-r.windows, r.first_sample))
        out = []
        for run in runs[:MAX_PROPOSED_CLIPS]:
            low_hz, high_hz = info.band(run.first_sample, run.end_sample - run.first_sample)
            if low_hz > high_hz:
                continue
            half = max(run.bandwidth_hz, resolution_hz) / 2
            out.append(
                {
                    "sample_start": run.first_sample,
                    "sample_count": run.end_sample - run.first_sample,
                    "freq_lower_edge": min(max(round(run.frequency_hz - half), low_hz), high_hz),
                    "freq_upper_edge": min(max(round(run.frequency_hz + half), low_hz), high_hz),
                    "label": run.modulation,
                    "snr_db": run.snr_db,
                    "metadata": {"windows": run.windows},
                }
            )
        return sorted(out, key=lambda p: (p["sample_start"], p["freq_lower_edge"]))


def _storable(carrier) -> bool:
    """Whether ingest can store the carrier as a detection: a frequency of 0-300 GHz, a
    strength within the detection range (floating-point data far beyond full scale gives
    strengths over +100 dB), a bandwidth within range. The others are counted, not sent:
    one would make ingest refuse the whole batch and fail the analysis."""
    return (
        0 <= carrier.frequency_hz <= MAX_FREQUENCY_HZ
        and STRENGTH_MIN_DB <= carrier.strength_db <= STRENGTH_MAX_DB
        and 0 <= carrier.bandwidth_hz <= MAX_BANDWIDTH_HZ
    )


@dataclass
class _EarlierAnalyses:
    """What analyses of this recording with other options stored: looked up a batch at a
    time (the batch's time span, widened by the longest window) on the station's
    detections, which (station, time) indexes."""

    recording: Recording
    options: dict
    sample_rate: float

    @classmethod
    def of(cls, recording: Recording, options: dict, info: sigmf_files.RecordingInfo):
        """None when no analysis with other options stored anything in the recording's
        time span (one indexed query)."""
        earlier = cls(recording, options, info.sample_rate)
        return earlier if earlier._stored(info.start_time, info.end_time).exists() else None

    def _stored(self, start, end):
        """This recording's detections of other options around [start, end]."""
        reach = timedelta(seconds=MAX_WINDOW_SAMPLES / self.sample_rate)  # the longest window
        return SignalDetection.objects.filter(
            websdr_station_id=self.recording.station_id,
            detection_timestamp__gte=start - reach,
            detection_timestamp__lte=end + reach,
            processing_metadata__recording_id=str(self.recording.pk),
        ).exclude(
            processing_metadata__window_seconds=self.options["window_seconds"],
            processing_metadata__fft_size=self.options["fft_size"],
        )

    def not_seen(self, batch: list[tuple], resolution_hz: float) -> list[tuple]:
        """The (time, detection) pairs of `batch` no earlier analysis stored."""
        times = [when for when, _ in batch]
        stored = list(
            self._stored(min(times), max(times)).values_list(
                "frequency_hz", "bandwidth_hz", "processing_metadata"
            )
        )
        if not stored:
            return batch
        spans = []  # (frequency, first sample, end sample, tolerance), by frequency
        for frequency, bandwidth, meta in stored:
            first, count = meta.get("sample_offset"), meta.get("sample_count")
            if not isinstance(first, int) or not isinstance(count, int) or count <= 0:
                continue  # not written by this module: cannot be matched by samples
            fft = meta.get("fft_size") if isinstance(meta.get("fft_size"), int) else count
            bin_hz = self.sample_rate / max(1, min(fft, count))
            spans.append((frequency, first, first + count, max((bandwidth or 0) / 2, 2 * bin_hz)))
        spans.sort()
        frequencies = [span[0] for span in spans]
        widest = max((span[3] for span in spans), default=0.0)
        fresh = []
        for when, row in batch:
            meta = row["processing_metadata"]
            first, end = meta["sample_offset"], meta["sample_offset"] + meta["sample_count"]
            frequency = row["frequency_hz"]
            own = max(row["bandwidth_hz"] / 2, 2 * resolution_hz)
            reach_hz = max(own, widest)
            low = bisect.bisect_left(frequencies, frequency - reach_hz)
            high = bisect.bisect_right(frequencies, frequency + reach_hz)
            seen = any(
                first < old_end
                and old_first < end
                and abs(frequency - old_frequency) <= max(own, tolerance)
                for old_frequency, old_first, old_end, tolerance in spans[low:high]
            )
            if not seen:
                fresh.append((when, row))
        return fresh


def _claim(recording_id) -> bool:
    return bool(
        Recording.objects.filter(pk=recording_id, analysis_status=Status.PENDING).update(
            analysis_status=Status.RUNNING,
            analysis_message="Analyzing",
            analysis_progress_percent=0.0,
            analysis_heartbeat_at=utc_now(),
        )
    )


def _progress(recording_id, done: int, total: int, detections: int) -> None:
    Recording.objects.filter(pk=recording_id, analysis_status=Status.RUNNING).update(
        analysis_progress_percent=round(100.0 * done / total, 1),
        analysis_message=f"Analyzed {done} of {total} samples; {detections} detections",
        analysis_heartbeat_at=utc_now(),
    )


def windows(info: sigmf_files.RecordingInfo, window_samples: int):
    """(capture index, first sample, sample count) of every window, capture by capture."""
    for index in range(len(info.captures)):
        first, end = info.capture_span(index)
        for start in range(first, end, window_samples):
            count = min(window_samples, end - start)
            if count >= dsp.MIN_SAMPLES:
                yield index, start, count


def recording_analyze(*, recording_id) -> str:
    """pending → running → completed | failed; "skipped" when not pending (tasks are
    idempotent). Returns the final status."""
    if not _claim(recording_id):
        return "skipped"
    recording = Recording.objects.get(pk=recording_id)
    options = {**ANALYSIS_DEFAULTS, **recording.analysis.get("options", {})}
    try:
        summary = _analyze(recording, options)
    except Exception as exc:
        logger.exception("analysis of recording %s failed", recording_id)
        Recording.objects.filter(pk=recording_id).update(
            analysis_status=Status.FAILED,
            analysis_error=(str(exc) or exc.__class__.__name__)[:2000],
            analysis_message="Failed",
            analyzed_at=utc_now(),
        )
        return Status.FAILED
    Recording.objects.filter(pk=recording_id).update(
        analysis_status=Status.COMPLETED,
        analysis_progress_percent=100.0,
        analysis_message=(
            f"{summary['detections_found']} detections ({summary['detections_ingested']} new, "
            f"{summary['duplicates']} already stored)"
        ),
        analysis=summary,
        analyzed_at=utc_now(),
    )
    return Status.COMPLETED


def _analyze(recording: Recording, options: dict) -> dict:
    started = time.perf_counter()
    info = sigmf_files.info_from_stored(recording.meta, recording.sample_count)
    window_samples = max(dsp.MIN_SAMPLES, round(options["window_seconds"] * info.sample_rate))
    fft_size = options["fft_size"]
    earliest = retention_cutoff(utc_now())
    key = f"{recording.pk}:{options['window_seconds']}:{fft_size}"
    totals = {
        "windows": 0,
        "skipped_windows": 0,
        "detections_found": 0,
        "detections_ingested": 0,
        "duplicates": 0,
        "anomalies": 0,
        "nonfinite_windows": 0,
        "unstorable_carriers": 0,
        "expired_detections": 0,
        "stored_by_earlier_analysis": 0,
    }
    earlier = _EarlierAnalyses.of(recording, options, info)
    batch: list[tuple] = []  # (time, detection)
    tracker = _Tracker()
    resolution = info.sample_rate / min(fft_size, window_samples)
    done = 0
    last_report = time.monotonic()

    def flush() -> None:
        # The retention cutoff moves at midnight UTC while a long analysis runs: rows that
        # have just expired are skipped here, not sent (ingest would refuse the batch).
        cutoff = retention_cutoff(utc_now())
        kept = [(when, row) for when, row in batch if when >= cutoff]
        totals["expired_detections"] += len(batch) - len(kept)
        batch[:] = kept
        if earlier is not None and batch:
            fresh = earlier.not_seen(batch, resolution)
            totals["stored_by_earlier_analysis"] += len(batch) - len(fresh)
            totals["duplicates"] += len(batch) - len(fresh)
            batch[:] = fresh
        if batch:
            result = detection_ingest(detections=[row for _, row in batch])
            totals["detections_ingested"] += result.ingested
            totals["duplicates"] += result.duplicates
            totals["anomalies"] += result.anomalies
            batch.clear()

    # Only floating-point data can hold NaN or infinity; the check costs ~8 % of the
    # analysis of a ci16_le file (bench/recordings.py), so integer data skips it.
    floating = not sigmf_files.dtype_info(info.datatype)["is_fixedpoint"]
    with local_data(recording) as path:
        for capture_index, start, count in windows(info, window_samples):
            capture = info.captures[capture_index]
            when_dt = capture.datetime + timedelta(
                seconds=(start - capture.sample_start) / info.sample_rate
            )
            totals["windows"] += 1
            done += count
            if when_dt < earliest:
                totals["skipped_windows"] += 1
                continue
            samples = sigmf_files.read_window(path, info, start, count)
            if floating and not np.isfinite(samples).all():  # no spectrum to read
                totals["nonfinite_windows"] += 1
                continue
            _, carriers = dsp.analyze(
                samples,
                sample_rate=info.sample_rate,
                center_frequency=capture.frequency_hz,
                fft_size=fft_size,
                overlap=OVERLAP,
            )
            found = len(carriers)
            carriers = [c for c in carriers if _storable(c)]
            totals["unstorable_carriers"] += found - len(carriers)
            tracker.feed(carriers, start, start + count, tolerance_hz=2 * resolution)
            stamp = isoformat_z(when_dt)
            for index, carrier in enumerate(carriers):
                batch.append(
                    (
                        when_dt,
                        {
                            "id": str(uuid.uuid5(NAMESPACE, f"{key}:{start}:{index}")),
                            "websdr_station_id": recording.station_id,
                            "frequency_hz": carrier.frequency_hz,
                            "signal_strength_db": carrier.strength_db,
                            "bandwidth_hz": carrier.bandwidth_hz,
                            "modulation_type": carrier.modulation,
                            "signal_features": {
                                "snr_estimate": carrier.snr_db,
                                "bandwidth": float(carrier.bandwidth_hz),
                                "peak_frequency": carrier.frequency_hz,
                                "offset_hz": carrier.offset_hz,
                            },
                            "detection_timestamp": stamp,
                            "processing_metadata": {
                                "source": "recording",
                                "recording_id": str(recording.pk),
                                "sample_offset": start,
                                "sample_count": count,
                                "window_seconds": options["window_seconds"],
                                "fft_size": fft_size,
                            },
                        },
                    )
                )
            totals["detections_found"] += len(carriers)
            if len(batch) >= INGEST_BATCH:
                flush()
            if time.monotonic() - last_report > 1.0:
                _progress(recording.pk, done, info.sample_count, totals["detections_found"])
                last_report = time.monotonic()
        flush()
    proposed = analysis_clips_replace(
        recording=recording,
        proposals=tracker.proposals(resolution, info),
    )
    elapsed = time.perf_counter() - started
    seconds = info.sample_count / info.sample_rate
    return {
        "options": options,
        **totals,
        "proposed_clips": proposed,
        "recording_seconds": round(seconds, 3),
        "processing_seconds": round(elapsed, 3),
        "real_time_factor": round(seconds / elapsed, 1) if elapsed > 0 else None,
    }
