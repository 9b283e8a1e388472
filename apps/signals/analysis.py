"""POST /signals/analyze: validate a chunk of samples, run the DSP, score it.

Chunks shorter than `analysis_config.fft_size` are analysed with an FFT as
long as the chunk (`processing_metadata.fft_size_used` says which), so seed
004's own example (4 samples, fft_size 1024) works as written; the true
minimum is dsp.MIN_SAMPLES (2).
"""

import math
import time
import uuid
from itertools import chain

import numpy as np
from django.conf import settings

from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.exceptions import PayloadTooLarge, ValidationFailed
from apps.core.numbers import is_finite_number
from apps.ml import scoring
from apps.radio import dsp

# The request's bounds: the validation below and the OpenAPI schema
# (apps.signals.api.serializers.AnalyzeRequestSerializer) both read them.
MIN_SAMPLES = dsp.MIN_SAMPLES  # shorter chunks than fft_size shorten the FFT
SAMPLE_RATE_MIN, SAMPLE_RATE_MAX = 1, 100_000_000  # Hz
DURATION_MIN, DURATION_MAX = 1e-6, 3600  # s
FFT_SIZE_MIN, FFT_SIZE_MAX = 64, 65_536  # a power of two
OVERLAP_MIN, OVERLAP_MAX = 0, 0.95
DEFAULT_FFT_SIZE, DEFAULT_OVERLAP, DEFAULT_WINDOW = 1024, 0.5, "hann"
BODY_KEYS = frozenset({"signal_data", "analysis_config"})
DATA_KEYS = frozenset({"samples", "sample_rate", "frequency", "duration"})
CONFIG_KEYS = frozenset({"fft_size", "overlap", "window_function"})


def _positive_number(config: dict, name: str, prefix: str, low: float, high: float):
    value = config.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationFailed.for_field(f"{prefix}.{name}", "must be a finite number", value)
    if not low <= value <= high:
        raise ValidationFailed.for_field(f"{prefix}.{name}", f"must be {low}-{high}", value)
    return value


def _first_bad_sample(raw: list) -> str:
    """The path of the first sample that is not a finite number or an [i, q] pair of them."""
    pairs = isinstance(raw[0], list)
    for index, item in enumerate(raw):
        values = item if pairs and isinstance(item, list) and len(item) == 2 else [item]
        if (pairs and not (isinstance(item, list) and len(item) == 2)) or not all(
            type(v) in (int, float) and is_finite_number(v) for v in values
        ):
            return f"signal_data.samples[{index}]"
    return "signal_data.samples"


def _samples(raw) -> np.ndarray:
    """Real samples [x, ...] or complex I/Q pairs [[i, q], ...] as a numpy array.

    Any finite numbers are accepted (the DSP scales them first, so none can
    overflow); at least MIN_SAMPLES of them.
    """
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed.for_field("signal_data.samples", "must be a non-empty list")
    limit = settings.HEIMDALL_ANALYZE_MAX_SAMPLES
    if len(raw) > limit:
        raise PayloadTooLarge(
            f"{len(raw)} samples; at most {limit} per request.",
            {"field": "signal_data.samples", "constraint": f"at most {limit} samples",
             "value": len(raw)},
        )  # fmt: skip
    if len(raw) < MIN_SAMPLES:
        raise ValidationFailed.for_field(
            "signal_data.samples", f"at least {MIN_SAMPLES} samples", len(raw)
        )
    shape = "must be finite numbers, or [i, q] pairs of finite numbers"
    # JSON numbers only: numpy would read true as 1.0 and "0.5" as 0.5.
    if isinstance(raw[0], list):
        kinds = set(map(type, raw))
        if kinds == {list}:
            kinds = set(map(type, chain.from_iterable(raw)))
    else:
        kinds = set(map(type, raw))
    if not kinds <= {int, float}:
        raise ValidationFailed.for_field(_first_bad_sample(raw), shape)
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValidationFailed.for_field(_first_bad_sample(raw), shape) from None
    if array.ndim == 2 and array.shape[1] == 2:
        if not np.isfinite(array).all():
            raise ValidationFailed.for_field(_first_bad_sample(raw), shape)
        return array[:, 0] + 1j * array[:, 1]
    if array.ndim != 1:
        raise ValidationFailed.for_field(_first_bad_sample(raw), shape)
    if not np.isfinite(array).all():
        raise ValidationFailed.for_field(_first_bad_sample(raw), shape)
    return array


def signal_analyze(*, payload) -> dict:
    started = time.perf_counter()
    if not isinstance(payload, dict):
        raise ValidationFailed.for_field("body", "must be a JSON object")
    data = payload.get("signal_data")
    if not isinstance(data, dict):
        raise ValidationFailed.for_field("signal_data", "is required (an object)")
    config = payload.get("analysis_config") or {}
    if not isinstance(config, dict):
        raise ValidationFailed.for_field("analysis_config", "must be an object")
    # A key Heimdall does not read is named, not ignored (`analysis_options` would
    # otherwise give the defaults with a 200).
    for where, given, known in (("", payload, BODY_KEYS), ("signal_data.", data, DATA_KEYS),
                                ("analysis_config.", config, CONFIG_KEYS)):  # fmt: skip
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValidationFailed.for_field(f"{where}{unknown[0]}", "unknown field")

    samples = _samples(data.get("samples"))
    sample_rate = _positive_number(
        data, "sample_rate", "signal_data", SAMPLE_RATE_MIN, SAMPLE_RATE_MAX
    )
    frequency = data.get("frequency", 0)
    if (
        isinstance(frequency, bool)
        or not isinstance(frequency, int)
        or not 0 <= frequency <= MAX_FREQUENCY_HZ
    ):
        raise ValidationFailed.for_field(
            "signal_data.frequency",
            f"must be an integer number of Hz, 0-{MAX_FREQUENCY_HZ}",
            frequency,
        )
    if "duration" in data:
        _positive_number(data, "duration", "signal_data", DURATION_MIN, DURATION_MAX)

    fft_size = config.get("fft_size", DEFAULT_FFT_SIZE)
    if (
        isinstance(fft_size, bool)
        or not isinstance(fft_size, int)
        or not FFT_SIZE_MIN <= fft_size <= FFT_SIZE_MAX
        or fft_size & (fft_size - 1)
    ):
        raise ValidationFailed.for_field(
            "analysis_config.fft_size",
            f"must be a power of two from {FFT_SIZE_MIN} to {FFT_SIZE_MAX}",
            fft_size,
        )
    overlap = config.get("overlap", DEFAULT_OVERLAP)
    if (
        isinstance(overlap, bool)
        or not isinstance(overlap, int | float)
        or not OVERLAP_MIN <= overlap <= OVERLAP_MAX
    ):
        raise ValidationFailed.for_field(
            "analysis_config.overlap",
            f"must be a number from {OVERLAP_MIN} to {OVERLAP_MAX}",
            overlap,
        )
    window = config.get("window_function", DEFAULT_WINDOW)
    if not isinstance(window, str) or window not in dsp.WINDOWS:
        raise ValidationFailed.for_field(
            "analysis_config.window_function", f"must be one of {', '.join(dsp.WINDOWS)}", window
        )

    features, carriers, spectrum = dsp.analyze_spectrum(
        samples,
        sample_rate=float(sample_rate),
        center_frequency=frequency,
        fft_size=fft_size,
        overlap=float(overlap),
        window=window,
    )
    scorer = scoring.active_anomaly_scorer()
    result = scorer.score_features([features])[0] if scorer else None
    return {
        "analysis_id": str(uuid.uuid4()),
        "signal_features": features,
        "anomaly_score": result.anomaly_score if result else None,
        "is_anomaly": result.is_anomaly if result else False,
        "confidence": result.confidence if result else None,
        "carriers": [
            {
                "frequency_hz": c.frequency_hz,
                "bandwidth_hz": c.bandwidth_hz,
                "signal_strength_db": c.strength_db,
                "snr_estimate": c.snr_db,
                "modulation_type": c.modulation,
            }
            for c in carriers
        ],
        "processing_metadata": {
            "fft_size_requested": fft_size,
            **dsp.spectrum_metadata(spectrum),
            "window_function": window,
            "overlap": float(overlap),
        },
        "processing_time_ms": round((time.perf_counter() - started) * 1000, 2),
        "model_version": scorer.version if scorer else None,
    }
