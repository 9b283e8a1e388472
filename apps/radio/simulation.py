"""Simulated band activity as complex baseband I/Q, for the `simulated` collector.

A station's receiver is tuned to a channel centre; around it (±sample_rate/2)
a few transmitters are on the air, each with its modulation, offset and power,
drifting slowly, over a receiver noise floor. Rare injected anomalies:
an unexpected modulation for the band (a 10 kHz wideband digital block on HF),
an out-of-band carrier (reported at a frequency the station does not cover)
and sudden power jumps.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy import signal as sps

SAMPLE_RATE = 24_000
CHUNK_SECONDS = 0.25
NOISE_FLOOR_DBFS = -70.0  # per sample, complex white noise

# Typical channels per band kind: (modulation, bandwidth of the simulated emission)
HF_MIX = [("USB", 2400), ("LSB", 2400), ("CW", 0), ("AM", 6000), ("FSK", 170), ("PSK", 60)]
VHF_MIX = [("NFM", 10000), ("CW", 0), ("USB", 2400), ("FSK", 1000)]


@dataclass
class Emitter:
    modulation: str
    offset_hz: float
    power_dbfs: float
    drift_hz_per_s: float
    phase: float = 0.0


@dataclass
class BandActivity:
    """The transmitters around one receiver, evolving chunk by chunk."""

    center_frequency: int
    rng: np.random.Generator
    emitters: list[Emitter] = field(default_factory=list)

    @classmethod
    def random(cls, center_frequency: int, rng: np.random.Generator, count: int = 3):
        mix = HF_MIX if center_frequency < 30_000_000 else VHF_MIX
        activity = cls(center_frequency=center_frequency, rng=rng)
        slots = rng.choice(np.linspace(-9000, 9000, 7), size=count, replace=False)
        for offset in slots:
            modulation, _ = mix[rng.integers(len(mix))]
            activity.emitters.append(
                Emitter(
                    modulation=modulation,
                    offset_hz=float(offset + rng.uniform(-300, 300)),
                    power_dbfs=float(rng.uniform(-50, -25)),
                    drift_hz_per_s=float(rng.normal(0, 2)),
                )
            )
        return activity

    def step(self, seconds: float) -> None:
        for emitter in self.emitters:
            emitter.offset_hz += emitter.drift_hz_per_s * seconds
            emitter.power_dbfs += self.rng.normal(0, 0.3)
            emitter.power_dbfs = float(np.clip(emitter.power_dbfs, -55, -20))


def _band_limited_noise(n: int, low: float, high: float, rng) -> np.ndarray:
    sos = sps.butter(6, [low, high], btype="band", fs=SAMPLE_RATE, output="sos")
    audio = sps.sosfilt(sos, rng.standard_normal(n + 256))[256:]
    return audio / (np.std(audio) + 1e-12)


def baseband(emitter: Emitter, n: int, rng) -> np.ndarray:
    """The emitter at 0 Hz, unit power."""
    kind = emitter.modulation
    if kind == "CW":
        return np.exp(1j * emitter.phase) * np.ones(n)
    if kind in ("USB", "LSB"):
        voice = _band_limited_noise(n, 300, 2700, rng)
        analytic = sps.hilbert(voice)
        return analytic if kind == "USB" else np.conj(analytic)
    if kind == "AM":
        message = _band_limited_noise(n, 200, 2800, rng) * 0.4
        return (1 + message).astype(complex) / np.sqrt(1.16)
    if kind == "FSK":
        bits = rng.integers(0, 2, size=int(np.ceil(n / (SAMPLE_RATE / 50))) + 1)
        symbol = np.repeat(bits, int(SAMPLE_RATE / 50))[:n]
        frequency = np.where(symbol, 85.0, -85.0)
        return np.exp(2j * np.pi * np.cumsum(frequency) / SAMPLE_RATE)
    if kind == "PSK":
        bits = rng.integers(0, 2, size=int(np.ceil(n / (SAMPLE_RATE / 31.25))) + 1)
        symbol = np.repeat(2.0 * bits - 1, int(SAMPLE_RATE / 31.25))[:n]
        return sps.sosfilt(sps.butter(2, 40, fs=SAMPLE_RATE, output="sos"), symbol).astype(complex)
    if kind == "OFDM":  # wideband digital: a flat ~10 kHz block
        sos = sps.butter(8, 5000, fs=SAMPLE_RATE, output="sos")
        block = sps.sosfilt(sos, rng.standard_normal(n) + 1j * rng.standard_normal(n))
        return block / (np.std(block) + 1e-12)
    if kind in ("NFM", "WFM"):
        # A voice/music-like message: a continuous spectrum, as on the air.
        deviation = 2500 if kind == "NFM" else 7000
        message = np.clip(_band_limited_noise(n, 100, 3000, rng) / 2, -1, 1)
        return np.exp(2j * np.pi * deviation * np.cumsum(message) / SAMPLE_RATE)
    raise ValueError(kind)


def synthesize(activity: BandActivity, n: int | None = None) -> np.ndarray:
    """One chunk of complex baseband samples (full scale = 1.0)."""
    rng = activity.rng
    n = n or int(SAMPLE_RATE * CHUNK_SECONDS)
    t = np.arange(n) / SAMPLE_RATE
    noise_amplitude = 10 ** (NOISE_FLOOR_DBFS / 20) / np.sqrt(2)
    chunk = noise_amplitude * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    for emitter in activity.emitters:
        amplitude = 10 ** (emitter.power_dbfs / 20)
        shift = np.exp(2j * np.pi * emitter.offset_hz * t)
        chunk += amplitude * baseband(emitter, n, rng) * shift
        emitter.phase = float(rng.uniform(0, 2 * np.pi))
    activity.step(n / SAMPLE_RATE)
    return chunk


ANOMALY_KINDS = ("unexpected_modulation", "power_jump", "out_of_band_carrier")


def inject_anomaly(activity: BandActivity, kind: str) -> Emitter:
    """Add (for one chunk) the emitter that makes the chunk anomalous."""
    rng = activity.rng
    if kind == "unexpected_modulation":
        emitter = Emitter("OFDM", float(rng.uniform(-3000, 3000)), float(rng.uniform(-30, -20)), 0)
    elif kind == "power_jump":
        emitter = Emitter("CW", float(rng.uniform(-9000, 9000)), float(rng.uniform(-3, 0)), 0)
    else:
        emitter = Emitter("USB", float(rng.uniform(-9000, 9000)), float(rng.uniform(-40, -20)), 0)
    activity.emitters.append(emitter)
    return emitter
