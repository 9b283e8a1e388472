"""Signal analysis: Welch power spectrum, features and carrier detection (numpy/scipy).

Definitions (docs/signals.md has the long form):
* Spectrum: `scipy.signal.welch`, density scaling, one-sided for real samples,
  two-sided and centred on 0 Hz for complex I/Q.
* Noise floor N0 (per Hz): the 25th percentile of the spectrum, divided by
  the 25th percentile of a unit-mean Gamma(K) variable, K being the number of
  averaged Welch segments: for white noise that is the mean noise density,
  and it stays right while carriers cover up to about 3/4 of the span.
* Occupied bandwidth: the span holding 99 % of the power above the noise floor.
* SNR: power above the floor in the occupied band over the noise in that band.
* Carriers: runs of bins at least `carrier_threshold_db` above the floor
  (gaps of up to two bins bridged); each becomes one detection.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import signal as sps
from scipy import stats

WINDOWS = {"hann": "hann", "hamming": "hamming", "blackman": "blackman", "rectangular": "boxcar"}
OCCUPIED_FRACTION = 0.99
CARRIER_THRESHOLD_DB = 10.0
MAX_CARRIER_GAP_BINS = 2
TINY = 1e-30


@dataclass(frozen=True)
class Spectrum:
    frequencies: np.ndarray  # baseband Hz, ascending
    psd: np.ndarray  # power per Hz
    resolution_hz: float
    noise_floor: float  # per Hz


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


def power_spectrum(
    samples: np.ndarray, sample_rate: float, fft_size: int, overlap: float, window: str
) -> Spectrum:
    nperseg = min(fft_size, len(samples))
    is_complex = np.iscomplexobj(samples)
    frequencies, psd = sps.welch(
        samples,
        fs=sample_rate,
        window=WINDOWS[window],
        nperseg=nperseg,
        noverlap=int(overlap * nperseg),
        detrend=False,
        return_onesided=not is_complex,
        scaling="density",
    )
    if is_complex:
        frequencies, psd = np.fft.fftshift(frequencies), np.fft.fftshift(psd)
    step = nperseg - int(overlap * nperseg)
    segments = max(1, (len(samples) - nperseg) // step + 1)
    floor = float(np.percentile(psd, FLOOR_PERCENTILE)) / _floor_correction(segments)
    return Spectrum(
        frequencies=frequencies,
        psd=psd,
        resolution_hz=sample_rate / nperseg,
        noise_floor=floor,
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


def extract_features(samples: np.ndarray, spectrum: Spectrum, center_frequency: int) -> dict:
    psd, floor, df = spectrum.psd, spectrum.noise_floor, spectrum.resolution_hz
    excess = np.clip(psd - floor, 0, None)
    weights = psd.sum()
    centroid = float((spectrum.frequencies * psd).sum() / weights) if weights > 0 else 0.0
    low, high = _occupied_band(spectrum, excess)
    bandwidth = max(high - low, df) if excess.sum() > 0 else 0.0
    in_band = (spectrum.frequencies >= low) & (spectrum.frequencies <= high)
    signal_power = float(excess[in_band].sum() * df)
    noise_power = floor * max(bandwidth, df)
    snr = 10 * math.log10(max(signal_power, TINY) / max(noise_power, TINY))
    peak = float(spectrum.frequencies[int(np.argmax(psd))])
    mean_power = float(np.mean(np.abs(samples) ** 2))
    return {
        "spectral_centroid": round(centroid, 2),
        "bandwidth": round(bandwidth, 2),
        "snr_estimate": round(snr, 2),
        "peak_frequency": round(center_frequency + peak),
        "signal_power": round(10 * math.log10(max(mean_power, TINY)), 2),
        "noise_floor_db": round(10 * math.log10(max(floor, TINY)), 2),
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
                strength_db=round(10 * math.log10(max(power, TINY)), 2),
                snr_db=round(10 * math.log10(max(excess, TINY) / (floor * bandwidth)), 2),
                modulation=guess_modulation(psd, bandwidth, df),
            )
        )
    return carriers


def analyze(
    samples: np.ndarray,
    *,
    sample_rate: float,
    center_frequency: int,
    fft_size: int = 1024,
    overlap: float = 0.5,
    window: str = "hann",
) -> tuple[dict, list[Carrier]]:
    """Features of the whole chunk, and the carriers in it."""
    spectrum = power_spectrum(samples, sample_rate, fft_size, overlap, window)
    return (
        extract_features(samples, spectrum, center_frequency),
        detect_carriers(spectrum, center_frequency),
    )
