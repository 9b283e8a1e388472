"""Signal analysis: Welch power spectrum, features and carrier detection (numpy/scipy).

Definitions (docs/signals.md has the long form):
* Scale: samples are divided by their largest component magnitude before any
  arithmetic (so no finite input can overflow or underflow), and every dB
  figure is given back in the input's own units (dB re 1, "dBFS" when the
  input is full-scale ±1).
* DC: the chunk's mean (every SDR front end has an offset; a constant input
  is nothing but DC) is measured, reported (`dc_offset`) and removed before
  the spectrum is taken: it is never a carrier and never the peak.
* Spectrum: Welch's estimate (`welch`, equal to `scipy.signal.welch`), density
  scaling, one-sided for real samples,
  two-sided and centred on 0 Hz for complex I/Q. The FFT is the requested
  size or the whole chunk when the chunk is shorter (`fft_size_used`).
* Noise floor N0 (per Hz): the 25th percentile of the spectrum, divided by
  the 25th percentile of a unit-mean Gamma(K) variable, K being the number of
  averaged Welch segments: for white noise that is the mean noise density,
  and it stays right while carriers cover up to about 3/4 of the span. It is
  never reported below the dynamic-range limit: full scale (the largest
  sample) spread over the band, less DYNAMIC_RANGE_DB (an ideal 24-bit
  converter's quantisation noise sits at -146 dB). Samples quieter than
  that (digital silence, a constant, a synthetic tone with no noise) are
  measured against that limit, so every figure stays finite.
* Occupied bandwidth: the span holding 99 % of the power above the noise floor.
* SNR: power above the floor in the occupied band over the noise in that band,
  from the chunk's resolution limit (-5·log10(segments × bins) dB: a smaller
  excess cannot be told from the floor estimate's own spread) to
  +DYNAMIC_RANGE_DB.
* Carriers: runs of bins at least `carrier_threshold_db` above the floor
  (gaps of up to two bins bridged); each becomes one detection.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import fft as sp_fft
from scipy import signal as sps
from scipy import stats

WINDOWS = {"hann": "hann", "hamming": "hamming", "blackman": "blackman", "rectangular": "boxcar"}
OCCUPIED_FRACTION = 0.99
CARRIER_THRESHOLD_DB = 10.0
MAX_CARRIER_GAP_BINS = 2
DYNAMIC_RANGE_DB = 150.0
# The fewest samples with a spectrum: one frequency step needs two samples.
MIN_SAMPLES = 2


@dataclass(frozen=True)
class Spectrum:
    """A power spectrum of samples scaled to a largest component of 1.

    `psd` and `noise_floor` are per Hz in those scaled units; add `scale_db`
    to any dB figure derived from them to get the input's units.
    """

    frequencies: np.ndarray  # baseband Hz, ascending
    psd: np.ndarray  # power per Hz (scaled units)
    resolution_hz: float
    noise_floor: float  # per Hz (scaled units), at least `floor_limit`
    floor_limit: float  # the dynamic-range limit (scaled units, per Hz)
    scale_db: float  # 20·log10 of the largest sample component magnitude (0 for silence)
    fft_size: int  # the FFT length used
    segments: int  # Welch segments averaged
    dc_offset: complex  # the removed mean, in the input's units
    ac_power: float  # mean power after the DC is removed (scaled units)


@dataclass(frozen=True)
class Carrier:
    frequency_hz: int  # absolute
    offset_hz: float  # baseband
    bandwidth_hz: int
    strength_db: float  # dBFS
    snr_db: float
    modulation: str


FLOOR_PERCENTILE = 25


@lru_cache(maxsize=256)
def _floor_correction(segments: int) -> float:
    """The FLOOR_PERCENTILE-th percentile of a unit-mean Gamma(segments) variable."""
    return float(stats.gamma.ppf(FLOOR_PERCENTILE / 100, a=segments, scale=1 / segments))


def _scaled(samples: np.ndarray) -> tuple[np.ndarray, float]:
    """(samples / s, s) with s the largest component magnitude (1 for all-zero input).

    Components are compared, not complex magnitudes: |i + jq| of two finite
    components can overflow, i/s and q/s cannot.
    """
    if np.iscomplexobj(samples):
        # Both components in one pass: a complex array viewed as its interleaved reals.
        parts = samples.view(samples.real.dtype) if samples.flags.c_contiguous else None
        scale = (
            float(np.max(np.abs(parts)))
            if parts is not None
            else max(float(np.max(np.abs(samples.real))), float(np.max(np.abs(samples.imag))))
        )
    else:
        scale = float(np.max(np.abs(samples)))
    if not scale > 0:
        return samples.astype(np.float64 if not np.iscomplexobj(samples) else complex), 1.0
    if scale < 1e-300:  # 1/scale would overflow: divide component by component
        if np.iscomplexobj(samples):
            return samples.real / scale + 1j * (samples.imag / scale), scale
        return samples / scale, scale
    # Multiplying by the real 1/scale: one pass; a component times a real cannot overflow.
    if np.iscomplexobj(samples):
        return samples.astype(np.complex128) * (1.0 / scale), scale
    return samples.astype(np.float64) * (1.0 / scale), scale


def _db(power: float, limit: float) -> float:
    """10·log10(power), never below 10·log10(limit) (limit > 0)."""
    return 10 * math.log10(max(power, limit))


@lru_cache(maxsize=32)
def _window(name: str, nperseg: int) -> np.ndarray:
    return sps.get_window(WINDOWS[name], nperseg)  # periodic, as scipy.signal.welch takes it


def welch(
    samples: np.ndarray, sample_rate: float, window: np.ndarray, step: int
) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies in Hz, PSD per Hz): `scipy.signal.welch(samples, fs=sample_rate,
    window=window, nperseg=len(window), noverlap=len(window) - step, detrend=False,
    scaling="density")`, one-sided for real samples, in FFT order for complex ones.

    The same estimate (Welch 1967; scipy/signal/_spectral_py.py), computed as one
    batched FFT over a strided view of the segments: scipy 1.17 makes one FFT call per
    segment, 3x slower on a 0.25 s window at 2.4 MS/s (bench/recordings.py;
    tests/radio/test_dsp.py holds the two equal).
    """
    nperseg = len(window)
    segments = np.lib.stride_tricks.sliding_window_view(samples, nperseg)[::step]
    scale = 1.0 / (sample_rate * float(np.sum(window * window)))
    # The windowed copy is ours: the FFT may overwrite it.
    if np.iscomplexobj(samples):
        spectrum = sp_fft.fft(segments * window, axis=-1, overwrite_x=True)
        frequencies = sp_fft.fftfreq(nperseg, 1 / sample_rate)
    else:
        spectrum = sp_fft.rfft(segments * window, axis=-1, overwrite_x=True)
        frequencies = sp_fft.rfftfreq(nperseg, 1 / sample_rate)
    re, im = spectrum.real, spectrum.imag  # |X|² summed over segments, without temporaries
    power = np.einsum("ij,ij->j", re, re) + np.einsum("ij,ij->j", im, im)
    psd = power * (scale / len(spectrum))
    if not np.iscomplexobj(samples):
        # One-sided: every bin but DC (and Nyquist, for an even length) holds both signs.
        psd[1 : None if nperseg % 2 else -1] *= 2
    return frequencies, psd


def power_spectrum(
    samples: np.ndarray, sample_rate: float, fft_size: int, overlap: float, window: str
) -> Spectrum:
    """The chunk's Welch spectrum, DC removed (module docstring). At least MIN_SAMPLES."""
    if len(samples) < MIN_SAMPLES:
        raise ValueError(f"at least {MIN_SAMPLES} samples are needed for a spectrum")
    scaled, scale = _scaled(np.asarray(samples))
    dc = scaled.mean()
    scaled = scaled - dc if scaled is samples else np.subtract(scaled, dc, out=scaled)
    nperseg = min(fft_size, len(scaled))
    is_complex = np.iscomplexobj(scaled)
    step = nperseg - int(overlap * nperseg)
    frequencies, psd = welch(scaled, sample_rate, _window(window, nperseg), step)
    if is_complex:
        frequencies, psd = np.fft.fftshift(frequencies), np.fft.fftshift(psd)
    segments = max(1, (len(scaled) - nperseg) // step + 1)
    # Full scale (a largest component of 1) spread over the band, less the dynamic range.
    limit = 10 ** (-DYNAMIC_RANGE_DB / 10) / sample_rate
    floor = float(np.percentile(psd, FLOOR_PERCENTILE)) / _floor_correction(segments)
    # Σ|x|² in one pass without temporaries (vdot conjugates its first argument).
    ac_power = float(np.vdot(scaled, scaled).real) / len(scaled)
    return Spectrum(
        frequencies=frequencies,
        psd=psd,
        resolution_hz=sample_rate / nperseg,
        noise_floor=max(floor, limit),
        floor_limit=limit,
        scale_db=20 * math.log10(scale),
        fft_size=nperseg,
        segments=segments,
        dc_offset=complex(dc) * scale,
        ac_power=ac_power,
    )


def _occupied_band(spectrum: Spectrum, excess: np.ndarray) -> tuple[float, float]:
    total = excess.sum()
    if total <= 0:
        return 0.0, 0.0
    cumulative = np.cumsum(excess) / total
    tail = (1 - OCCUPIED_FRACTION) / 2
    low = int(np.searchsorted(cumulative, tail))
    high = int(np.searchsorted(cumulative, 1 - tail))
    high = min(high, len(spectrum.frequencies) - 1)
    return float(spectrum.frequencies[low]), float(spectrum.frequencies[high])


def _clamp_db(value_db: float) -> float:
    return min(max(value_db, -DYNAMIC_RANGE_DB), DYNAMIC_RANGE_DB)


def extract_features(spectrum: Spectrum, center_frequency: int) -> dict:
    """The chunk's features (seed 004's signal_features, plus power and floor in dB).

    The SNR lies between the chunk's resolution limit, -5·log10(segments ×
    bins) dB (-17.8 dB for 4096 samples at fft_size 1024), and
    +DYNAMIC_RANGE_DB. A chunk with nothing above the dynamic-range limit
    (silence, a constant) has its centroid and peak at the centre, no
    bandwidth, and the SNR at the resolution limit.
    """
    psd, floor, df = spectrum.psd, spectrum.noise_floor, spectrum.resolution_hz
    quiet = not float(psd.max()) > spectrum.floor_limit
    excess = np.clip(psd - floor, 0, None)
    weights = psd.sum()
    centroid = 0.0 if quiet else float((spectrum.frequencies * psd).sum() / weights)
    low, high = _occupied_band(spectrum, excess)
    bandwidth = max(high - low, df) if excess.sum() > 0 else 0.0
    in_band = (spectrum.frequencies >= low) & (spectrum.frequencies <= high)
    signal_power = float(excess[in_band].sum() * df)
    noise_power = floor * max(bandwidth, df)
    # Below this the chunk cannot tell signal from noise: the floor estimate's own
    # relative spread, 1/sqrt(segments x bins), is larger than the excess.
    snr_limit = -5 * math.log10(spectrum.segments * len(psd))
    snr = 10 * math.log10(signal_power / noise_power) if signal_power > 0 else snr_limit
    peak = 0.0 if quiet else float(spectrum.frequencies[int(np.argmax(psd))])
    full_scale_limit = 10 ** (-DYNAMIC_RANGE_DB / 10)
    return {
        "spectral_centroid": round(centroid, 2),
        "bandwidth": round(bandwidth, 2),
        "snr_estimate": round(min(max(snr, snr_limit), DYNAMIC_RANGE_DB), 2),
        "peak_frequency": round(center_frequency + peak),
        # The mean power without the DC offset (a DC offset is no signal).
        "signal_power": round(_db(spectrum.ac_power, full_scale_limit) + spectrum.scale_db, 2),
        "noise_floor_db": round(10 * math.log10(floor) + spectrum.scale_db, 2),
    }


def spectrum_metadata(spectrum: Spectrum) -> dict:
    """How the spectrum was taken: FFT size used, segments, resolution, the DC removed."""
    dc = spectrum.dc_offset
    scale = 10 ** (spectrum.scale_db / 20)
    dc_scaled = abs(complex(dc.real / scale, dc.imag / scale))
    return {
        "fft_size_used": spectrum.fft_size,
        "segments": spectrum.segments,
        "resolution_hz": round(spectrum.resolution_hz, 4),
        "dc_offset_db": round(
            _db(dc_scaled**2, 10 ** (-DYNAMIC_RANGE_DB / 10)) + spectrum.scale_db, 2
        ),
        "noise_floor_limited": spectrum.noise_floor <= spectrum.floor_limit,
    }


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs of True, bridging gaps of up to MAX_CARRIER_GAP_BINS."""
    indices = np.flatnonzero(mask)
    if indices.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) > MAX_CARRIER_GAP_BINS + 1)
    starts = np.concatenate(([indices[0]], indices[breaks + 1]))
    ends = np.concatenate((indices[breaks], [indices[-1]])) + 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def guess_modulation(psd: np.ndarray, bandwidth_hz: float, df: float) -> str:
    """A shape-and-width guess, good enough to label a carrier for an operator."""
    peak_index = int(np.argmax(psd))
    around_peak = psd[max(0, peak_index - 2) : peak_index + 3].sum() / psd.sum()
    if bandwidth_hz < 250 or around_peak > 0.95:  # an unmodulated carrier (and its leakage)
        return "CW"
    peak_share = psd[peak_index] / psd.sum()
    if bandwidth_hz <= 3500:
        # Two separated humps of similar height: frequency-shift keying.
        smooth = np.convolve(psd, np.ones(3) / 3, mode="same")
        humps, _ = sps.find_peaks(smooth, prominence=smooth.max() * 0.5)
        if len(humps) == 2 and abs(humps[1] - humps[0]) * df >= 100:
            return "FSK"
        # A strong carrier in the middle of symmetric sidebands: AM.
        middle = abs(peak_index - (len(psd) - 1) / 2) <= max(1, len(psd) * 0.15)
        if peak_share > 0.3 and middle and len(psd) >= 5:
            return "AM"
        lower, upper = psd[:peak_index].sum(), psd[peak_index + 1 :].sum()
        return "LSB" if lower > upper else "USB"
    if bandwidth_hz <= 20_000:
        return "NFM"
    return "WFM"


def detect_carriers(
    spectrum: Spectrum,
    center_frequency: int,
    threshold_db: float = CARRIER_THRESHOLD_DB,
) -> list[Carrier]:
    floor, df = spectrum.noise_floor, spectrum.resolution_hz
    strong = spectrum.psd > floor * 10 ** (threshold_db / 10)
    carriers = []
    for start, end in _runs(strong):
        psd = spectrum.psd[start:end]
        freqs = spectrum.frequencies[start:end]
        power = float(psd.sum() * df)
        excess_psd = np.clip(psd - floor, 0, None)
        excess = float(excess_psd.sum() * df)
        # 99 % of the carrier's power: a strong tone's window leakage is not bandwidth.
        cumulative = np.cumsum(excess_psd) / excess_psd.sum()
        tail = (1 - OCCUPIED_FRACTION) / 2
        low = int(np.searchsorted(cumulative, tail))
        high = int(np.searchsorted(cumulative, 1 - tail))
        bandwidth = float((min(high, len(psd) - 1) - low + 1) * df)
        offset = float((freqs * psd).sum() / psd.sum())
        carriers.append(
            Carrier(
                frequency_hz=round(center_frequency + offset),
                offset_hz=round(offset, 2),
                bandwidth_hz=round(bandwidth),
                strength_db=round(10 * math.log10(power) + spectrum.scale_db, 2),
                snr_db=round(_clamp_db(10 * math.log10(excess / (floor * bandwidth))), 2),
                modulation=guess_modulation(psd, bandwidth, df),
            )
        )
    return carriers


def analyze_spectrum(
    samples: np.ndarray,
    *,
    sample_rate: float,
    center_frequency: int,
    fft_size: int = 1024,
    overlap: float = 0.5,
    window: str = "hann",
) -> tuple[dict, list[Carrier], Spectrum]:
    """Features of the whole chunk, the carriers in it, and the spectrum they came from.

    Any finite samples (at least MIN_SAMPLES) give finite figures; `fft_size`
    is shortened to the chunk's length when the chunk is shorter.
    """
    spectrum = power_spectrum(samples, sample_rate, fft_size, overlap, window)
    return (
        extract_features(spectrum, center_frequency),
        detect_carriers(spectrum, center_frequency),
        spectrum,
    )


def analyze(
    samples: np.ndarray,
    *,
    sample_rate: float,
    center_frequency: int,
    fft_size: int = 1024,
    overlap: float = 0.5,
    window: str = "hann",
) -> tuple[dict, list[Carrier]]:
    """Features of the whole chunk, and the carriers in it (see analyze_spectrum)."""
    features, carriers, _ = analyze_spectrum(
        samples,
        sample_rate=sample_rate,
        center_frequency=center_frequency,
        fft_size=fft_size,
        overlap=overlap,
        window=window,
    )
    return features, carriers
