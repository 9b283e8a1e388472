"""Small SigMF recordings written with the `sigmf` package, and the upload helper."""

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sigmf import SigMFFile

# A recording made "now-ish": inside the detection retention, not in the future.
START = datetime.now(UTC).replace(microsecond=0)


def tones(
    n: int,
    sample_rate: float,
    offsets_hz=(3000.0,),
    amplitude=0.5,
    noise=0.01,
    seed=0,
    modulated: dict | None = None,
) -> np.ndarray:
    """Complex samples: CW tones at `offsets_hz` over white noise (full scale 1)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sample_rate
    x = noise * (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)
    for offset in offsets_hz:
        x = x + amplitude * np.exp(2j * np.pi * offset * t)
    return x.astype(np.complex64)


def encode(samples: np.ndarray, datatype: str) -> bytes:
    """Samples (complex, |x| <= 1) in a SigMF datatype."""
    if datatype == "cf32_le":
        return samples.astype("<c8").tobytes()
    if datatype == "ci16_le":
        iq = np.empty(2 * len(samples), dtype="<i2")
        iq[0::2] = np.round(samples.real * 32767)
        iq[1::2] = np.round(samples.imag * 32767)
        return iq.tobytes()
    if datatype == "cu8":
        iq = np.empty(2 * len(samples), dtype="u1")
        iq[0::2] = np.clip(np.round(samples.real * 127 + 128), 0, 255)
        iq[1::2] = np.clip(np.round(samples.imag * 127 + 128), 0, 255)
        return iq.tobytes()
    if datatype == "ri16_le":
        return np.round(samples.real * 32767).astype("<i2").tobytes()
    raise ValueError(datatype)


def write_recording(
    folder: Path,
    *,
    name="rec",
    datatype="ci16_le",
    sample_rate=48_000.0,
    seconds=1.0,
    frequency=7_100_000,
    captures=None,
    annotations=(),
    samples=None,
    extra_global=None,
    start=START,
) -> tuple[Path, Path]:
    """A `.sigmf-meta` + `.sigmf-data` pair written by the sigmf package (its sha512 set).

    `captures`: [(sample_start, frequency, datetime)] (default one at `start`);
    `annotations`: [(sample_start, sample_count, {core:... keys})].
    """
    folder.mkdir(parents=True, exist_ok=True)
    n = round(seconds * sample_rate)
    if samples is None:
        samples = tones(n, sample_rate)
    data_path = folder / f"{name}.sigmf-data"
    data_path.write_bytes(encode(samples, datatype))
    meta = SigMFFile(
        data_file=str(data_path),
        global_info={
            "core:datatype": datatype,
            "core:sample_rate": sample_rate,
            "core:version": "1.2.0",
            **(extra_global or {}),
        },
    )
    for sample_start, freq, when in captures or [(0, frequency, start)]:
        meta.add_capture(
            sample_start,
            metadata={
                "core:frequency": freq,
                "core:datetime": when.isoformat().replace("+00:00", "Z"),
            },
        )
    for sample_start, count, fields in annotations:
        meta.add_annotation(sample_start, count, metadata=dict(fields))
    meta.tofile(str(folder / f"{name}.sigmf-meta"))
    return folder / f"{name}.sigmf-meta", data_path


def edit_meta(meta_path: Path, change) -> None:
    """Rewrite the metadata JSON through `change(meta_dict)` (for bad-input cases)."""
    meta = json.loads(meta_path.read_text())
    change(meta)
    meta_path.write_text(json.dumps(meta))


def upload(client, meta_path=None, data_path=None, *, archive_path=None, **fields):
    """POST /api/v1/recordings as multipart."""
    files = {}
    handles = []
    for key, path in (("meta", meta_path), ("data", data_path), ("archive", archive_path)):
        if path is not None:
            handle = open(path, "rb")  # noqa: SIM115
            handles.append(handle)
            files[key] = handle
    try:
        return client.post("/api/v1/recordings", {**fields, **files}, format="multipart")
    finally:
        for handle in handles:
            handle.close()


def labelled_recording(folder: Path, *, rate=48_000, clips_per_class=6, seed=0, start=START):
    """Three seconds at `rate` around 7.1 MHz: a CW carrier at +3 kHz for a second, an FM
    voice carrier at -5 kHz for a second, then noise alone; annotated with
    `clips_per_class` clips of 0.1 s per class (CW, FM, NOISE) with their edges."""
    from apps.radio import simulation

    rng = np.random.default_rng(seed)
    n = rate
    t = np.arange(n) / rate
    noise = lambda: 0.01 * (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)  # noqa: E731
    saved = simulation.SAMPLE_RATE
    simulation.SAMPLE_RATE = rate  # the FM message at this recording's rate
    try:
        fm = simulation.baseband(simulation.Emitter("NFM", 0.0, 0.0, 0.0), n, rng)
    finally:
        simulation.SAMPLE_RATE = saved
    samples = np.concatenate(
        [
            0.3 * np.exp(2j * np.pi * 3000 * t) + noise(),
            0.3 * fm * np.exp(-2j * np.pi * 5000 * t) + noise(),
            noise(),
        ]
    ).astype(np.complex64)
    annotations = []
    step = n // clips_per_class
    for second, label, low, high in (
        (0, "CW", 7_102_800, 7_103_200),
        (1, "FM", 7_089_000, 7_101_000),
        (2, "NOISE", 7_090_000, 7_110_000),
    ):
        for k in range(clips_per_class):
            annotations.append(
                (
                    second * n + k * step,
                    rate // 10,
                    {
                        "core:label": label,
                        "core:freq_lower_edge": low,
                        "core:freq_upper_edge": high,
                    },
                )
            )
    return write_recording(
        folder,
        sample_rate=rate,
        samples=samples,
        frequency=7_100_000,
        annotations=annotations,
        start=start,
    )
