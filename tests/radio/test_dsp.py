"""DSP on known signals."""

import numpy as np
import pytest

from apps.radio import dsp

FS = 48_000
T = np.arange(FS) / FS


def noise(seed=1, n=FS, complex_=False, level=0.01):
    rng = np.random.default_rng(seed)
    if complex_:
        return level * (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)
    return level * rng.standard_normal(n)


def test_pure_tone_centroid_peak_and_carrier():
    samples = np.sin(2 * np.pi * 1500 * T) + noise()
    features, carriers = dsp.analyze(samples, sample_rate=FS, center_frequency=14_235_000)
    assert features["peak_frequency"] == 14_236_500
    assert features["spectral_centroid"] == pytest.approx(1500, abs=5)
    assert features["bandwidth"] < 200
    assert features["snr_estimate"] > 40
    assert features["signal_power"] == pytest.approx(-3.01, abs=0.05)  # a unit sine: 0.5
    assert len(carriers) == 1
    assert carriers[0].frequency_hz == pytest.approx(14_236_500, abs=10)
    assert carriers[0].modulation == "CW"


def test_noise_only_snr_is_low_and_no_carriers():
    features, carriers = dsp.analyze(noise(level=1.0), sample_rate=FS, center_frequency=0)
    assert features["snr_estimate"] < 0
    # Unit-variance white noise: density 2/fs one-sided.
    assert features["noise_floor_db"] == pytest.approx(10 * np.log10(2 / FS), abs=0.5)
    assert carriers == []


def test_two_carriers_are_two_detections():
    samples = np.sin(2 * np.pi * 1000 * T) + 0.5 * np.sin(2 * np.pi * 7000 * T) + noise()
    _, carriers = dsp.analyze(samples, sample_rate=FS, center_frequency=7_000_000)
    assert [round(c.frequency_hz, -1) for c in carriers] == [7_001_000, 7_007_000]
    assert carriers[0].strength_db - carriers[1].strength_db == pytest.approx(6.02, abs=0.1)


def test_complex_iq_negative_offsets():
    samples = np.exp(-2j * np.pi * 3000 * T) + noise(complex_=True)
    features, carriers = dsp.analyze(samples, sample_rate=FS, center_frequency=145_000_000)
    assert features["peak_frequency"] == 144_997_000
    assert carriers[0].offset_hz == pytest.approx(-3000, abs=5)


def test_ssb_voice_band_is_labelled_usb_with_its_bandwidth():
    from scipy import signal

    sos = signal.butter(8, [300, 2700], btype="band", fs=FS, output="sos")
    samples = signal.sosfilt(sos, np.random.default_rng(3).standard_normal(FS)) + noise()
    _, carriers = dsp.analyze(samples, sample_rate=FS, center_frequency=14_200_000)
    assert len(carriers) == 1
    assert carriers[0].modulation == "USB"
    assert 2200 <= carriers[0].bandwidth_hz <= 3000


@pytest.mark.parametrize("window", ["hann", "hamming", "blackman", "rectangular"])
def test_windows_and_overlap(window):
    samples = np.sin(2 * np.pi * 2000 * T) + noise()
    features, _ = dsp.analyze(
        samples, sample_rate=FS, center_frequency=0, fft_size=4096, overlap=0.75, window=window
    )
    assert features["peak_frequency"] == pytest.approx(2000, abs=12)


def test_wideband_block_does_not_fool_the_noise_floor():
    """A carrier over most of the span: the floor stays the receiver's noise."""
    rng = np.random.default_rng(4)
    fs, n = FS // 2, FS // 2
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[np.fft.rfftfreq(n, 1 / fs) > 7000] = 0  # a brick-wall 7 kHz block (58 % of span)
    samples = np.fft.irfft(spectrum, n) + noise(n=n, level=0.001)
    features, carriers = dsp.analyze(samples, sample_rate=fs, center_frequency=0)
    assert len(carriers) == 1
    assert carriers[0].bandwidth_hz > 6500
    # The receiver noise: sigma 0.001, one-sided density 2 sigma^2 / fs.
    assert features["noise_floor_db"] == pytest.approx(10 * np.log10(2e-6 / fs), abs=1.5)


# --- degenerate input (issue 12 §5) ---------------------------------------------------


@pytest.mark.parametrize("value", [0.5, -3.0, 0.0])
def test_a_constant_is_dc_not_a_carrier(value):
    features, carriers, spectrum = dsp.analyze_spectrum(
        np.full(4096, value), sample_rate=FS, center_frequency=14_235_000
    )
    assert carriers == []
    assert features["peak_frequency"] == 14_235_000
    assert features["bandwidth"] == 0.0
    assert features["snr_estimate"] == -17.78  # the resolution limit, -5·log10(7 × 513)
    assert all(np.isfinite(v) for v in features.values())
    assert spectrum.noise_floor == spectrum.floor_limit
    assert spectrum.dc_offset == value


def test_dc_offset_is_removed_before_the_spectrum():
    """The same tone with and without an offset: the same carriers and SNR."""
    samples = np.sin(2 * np.pi * 1500 * T) + noise()
    plain, plain_carriers = dsp.analyze(samples, sample_rate=FS, center_frequency=0)
    shifted, shifted_carriers = dsp.analyze(samples + 0.7, sample_rate=FS, center_frequency=0)
    assert [c.frequency_hz for c in shifted_carriers] == [c.frequency_hz for c in plain_carriers]
    assert [c.frequency_hz for c in plain_carriers] == [1500]
    # Scaled by the largest sample (1.7 instead of 1): dB figures in input units agree.
    assert shifted["snr_estimate"] == pytest.approx(plain["snr_estimate"], abs=0.05)
    assert shifted["signal_power"] == pytest.approx(plain["signal_power"], abs=0.05)


def test_complex_dc_spike_is_not_the_centre_carrier():
    samples = 0.3 + 0.2j + np.exp(2j * np.pi * 2500 * T) + noise(complex_=True)
    features, carriers = dsp.analyze(samples, sample_rate=FS, center_frequency=145_000_000)
    assert [round(c.frequency_hz, -1) for c in carriers] == [145_002_500]
    assert features["peak_frequency"] == pytest.approx(145_002_500, abs=47)  # one bin


def test_a_noiseless_tone_reports_snr_at_the_dynamic_range_limit():
    features, carriers = dsp.analyze(np.sin(2 * np.pi * 1500 * T), sample_rate=FS,
                                     center_frequency=0)  # fmt: skip
    assert features["snr_estimate"] == dsp.DYNAMIC_RANGE_DB
    assert len(carriers) == 1


@pytest.mark.parametrize("n", [2, 3, 4, 63])
def test_short_chunks_shorten_the_fft(n):
    samples = np.sin(2 * np.pi * 0.2 * np.arange(n)) + 0.05 * np.arange(n)
    features, _, spectrum = dsp.analyze_spectrum(samples, sample_rate=FS, center_frequency=0)
    assert spectrum.fft_size == n
    assert spectrum.segments == 1
    assert all(np.isfinite(v) for v in features.values())


def test_one_sample_has_no_spectrum():
    with pytest.raises(ValueError, match="at least 2 samples"):
        dsp.analyze(np.ones(1), sample_rate=FS, center_frequency=0)


@pytest.mark.parametrize("complex_", [True, False])
@pytest.mark.parametrize(("nperseg", "overlap"), [(256, 0.0), (256, 0.5), (255, 0.75), (1, 0.0)])
@pytest.mark.parametrize("window", ["hann", "hamming", "blackman", "rectangular"])
def test_batched_welch_equals_scipys(complex_, nperseg, overlap, window):
    """dsp.welch is scipy.signal.welch (one FFT call per segment in scipy 1.17) as one
    batched FFT: same frequencies, same PSD to rounding, real one-sided and complex."""
    from scipy import signal as sps

    samples = noise(seed=7, n=5_003, complex_=complex_, level=1.0) + 0.3
    noverlap = int(overlap * nperseg)
    expected_f, expected = sps.welch(
        samples, fs=FS, window=dsp.WINDOWS[window], nperseg=nperseg, noverlap=noverlap,
        detrend=False, return_onesided=not complex_, scaling="density",
    )  # fmt: skip
    got_f, got = dsp.welch(samples, FS, dsp._window(window, nperseg), nperseg - noverlap)
    np.testing.assert_array_equal(got_f, expected_f)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
