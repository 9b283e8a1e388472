"""The samples of a clip: its SNR, and the baseband segments a classifier trains on.

A clip is samples [sample_start, sample_start + sample_count) of a recording
between two absolute frequency edges (or the whole span without edges).

* SNR (`clip_snr_db`): the Welch spectrum of the clip's first
  MAX_SNR_SAMPLES samples (apps.radio.dsp.power_spectrum: DC removed, noise
  floor N0 from the 25th percentile, corrected to the mean noise density),
  the power above the floor between the edges over the floor's power in
  that band: 10·log10(Σ(P−N0)·Δf / (N0·B)), B the edges' width, clamped to
  [SNR_MIN_DB, dsp.DYNAMIC_RANGE_DB]. The sum is not clipped at zero, so
  noise alone sums to about nothing (SNR_MIN_DB) rather than to its own
  positive fluctuations.
  Without edges: dsp.extract_features' `snr_estimate` of the whole span.
* Training segments (`clip_segments`): the band's centre mixed to 0 Hz,
  resampled (scipy.signal.resample_poly, a polyphase low-pass; the ratio within
  0.1 % of the exact one, `resampling_ratio`) to the classifier's rate, cut
  into `clip_samples`-long segments, each scaled to a largest magnitude of 1,
  as apps.training.generator's synthetic clips.
"""

import math
from fractions import Fraction

import numpy as np
from scipy import signal as sps

from apps.radio import dsp
from apps.recordings.sigmf_files import RecordingInfo, read_window

MAX_SNR_SAMPLES = 1 << 20
SNR_FFT_SIZE = 1024
SNR_MIN_DB = -30.0
MAX_SEGMENTS_PER_CLIP = 32


def clip_snr_db(
    path: str,
    info: RecordingInfo,
    *,
    sample_start: int,
    sample_count: int,
    freq_lower_edge: int | None,
    freq_upper_edge: int | None,
) -> float | None:
    """The clip's SNR in dB (module docstring); None when it has under dsp.MIN_SAMPLES."""
    capture = info.capture_at(sample_start)
    # Within the clip's first capture: one centre frequency for the whole spectrum.
    count = min(sample_count, MAX_SNR_SAMPLES, info.capture_span(capture)[1] - sample_start)
    if count < dsp.MIN_SAMPLES:
        return None
    samples = read_window(path, info, sample_start, count)
    centre = info.captures[capture].frequency_hz
    spectrum = dsp.power_spectrum(samples, info.sample_rate, SNR_FFT_SIZE, 0.5, "hann")
    if freq_lower_edge is None:
        return float(dsp.extract_features(spectrum, centre)["snr_estimate"])
    low, high = freq_lower_edge - centre, freq_upper_edge - centre
    df = spectrum.resolution_hz
    band = (spectrum.frequencies >= low - df / 2) & (spectrum.frequencies <= high + df / 2)
    if not band.any():
        return SNR_MIN_DB
    floor = spectrum.noise_floor
    excess = float((spectrum.psd[band] - floor).sum() * df)  # unbiased: noise sums to ~0
    noise = floor * max(high - low, df)
    if excess <= 0:
        return SNR_MIN_DB
    return round(min(max(10 * math.log10(excess / noise), SNR_MIN_DB), dsp.DYNAMIC_RANGE_DB), 2)


RESAMPLING_TOLERANCE = 1e-3


def resampling_ratio(target_rate: float, sample_rate: float) -> Fraction:
    """up/down with the smallest terms that resample `sample_rate` to within 0.1 % of
    `target_rate`. (A fixed limit of 1000 on the denominator made 48 MS/s into 48 kHz
    instead of 24 kHz, and anything over 48 MS/s into 0: a ZeroDivisionError.)"""
    exact = Fraction(target_rate) / Fraction(sample_rate)
    limit = 1000
    while True:
        ratio = exact.limit_denominator(limit)
        if ratio > 0 and abs(ratio - exact) <= exact * RESAMPLING_TOLERANCE:
            return ratio
        limit *= 10


def _mix_down(samples: np.ndarray, first: int, info: RecordingInfo, target_hz: float):
    """Samples [first, first + len) with `target_hz` mixed to 0 Hz, each sample against the
    centre frequency of its own capture (a clip may cross a retune: the same signal sits
    at another offset in the next capture)."""
    end = first + len(samples)
    out = samples.copy()
    for index, capture in enumerate(info.captures):
        start, stop = info.capture_span(index)
        low, high = max(start, first), min(stop, end)
        offset = target_hz - capture.frequency_hz
        if low < high and offset:
            n = np.arange(low, high)
            out[low - first : high - first] *= np.exp(
                -2j * np.pi * offset * n / info.sample_rate
            ).astype(np.complex64)
    return out


def clip_segments(
    path: str,
    info: RecordingInfo,
    *,
    sample_start: int,
    sample_count: int,
    freq_lower_edge: int | None,
    freq_upper_edge: int | None,
    target_rate: float,
    clip_samples: int,
    max_segments: int = MAX_SEGMENTS_PER_CLIP,
) -> np.ndarray:
    """[K, clip_samples] complex64 segments at `target_rate` (module docstring); K is as
    many whole segments as the clip holds, at most `max_segments`; [0, clip_samples] when
    the clip is shorter than one segment."""
    ratio = resampling_ratio(target_rate, info.sample_rate)
    up, down = ratio.numerator, ratio.denominator
    needed = math.ceil(clip_samples * down / up)  # input samples per segment
    available = sample_count // needed
    count = min(available, max_segments)
    segments = np.zeros((count, clip_samples), dtype=np.complex64)
    target_hz = None if freq_lower_edge is None else (freq_lower_edge + freq_upper_edge) / 2
    for index in range(count):
        first = sample_start + index * needed
        samples = read_window(path, info, first, needed).astype(np.complex64)
        if target_hz is not None:
            samples = _mix_down(samples, first, info, target_hz)
        baseband = sps.resample_poly(samples, up, down) if (up, down) != (1, 1) else samples
        segment = np.zeros(clip_samples, dtype=np.complex64)
        take = min(clip_samples, len(baseband))
        segment[:take] = baseband[:take]
        segments[index] = segment / (np.max(np.abs(segment)) + 1e-12)
    return segments
