"""SigMF files: validation of a recording's metadata and data, and reading it in windows.

SigMF (https://github.com/sigmf/SigMF, spec v1.2) describes a recording as a
`.sigmf-meta` JSON object (`global`, `captures`, `annotations`) and a
`.sigmf-data` file of raw samples, or both in one `.sigmf` tar archive. The
metadata is checked against the schema shipped with the `sigmf` package
(`sigmf.validate.validate`) and the sample layout is read with
`sigmf.sigmffile.dtype_info`; then Heimdall's own requirements:

- `global.core:datatype` one of SUPPORTED_DATATYPES, one channel;
- `global.core:sample_rate` given;
- every capture has `core:frequency` (Hz) and `core:datetime` (ISO 8601);
- the data's length is a whole number of samples after the header and
  trailing bytes, and reaches every capture and annotation;
- a declared `global.core:sha512` equals the data's SHA-512.

Every refusal is a ValidationFailed naming the field as a path into the
metadata (`captures[1].core:frequency`, `global.core:sha512`) or the form
field (`meta`, `data`, `archive`). Nothing here reads a data file whole:
uploads are hashed while they stream to disk (HashingUploadHandler) and
samples are read through a memory map one window at a time (`read_window`).
"""

import hashlib
import math
import tarfile
from dataclasses import dataclass
from datetime import datetime, timedelta

import jsonschema
import numpy as np
from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from sigmf import validate as sigmf_validate
from sigmf.error import SigMFFileError
from sigmf.sigmffile import dtype_info

from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.exceptions import PayloadTooLarge, ValidationFailed
from apps.core.numbers import BadValue, fast_checked_loads
from apps.core.text import normalize_text, text_problem
from apps.core.timeutil import isoformat_z
from apps.signals.validation import parse_timestamp

# Little-endian (or byte-sized) complex and real integer/float samples.
SUPPORTED_DATATYPES = (
    "cf32_le",
    "cf64_le",
    "ci32_le",
    "ci16_le",
    "ci8",
    "cu8",
    "cu16_le",
    "rf32_le",
    "rf64_le",
    "ri32_le",
    "ri16_le",
    "ri8",
    "ru8",
    "ru16_le",
)
MAX_META_BYTES = 16 * 1024 * 1024
LABEL_MAX_LENGTH = 64  # RecordingClip.label
# A SigMF archive is one folder of recordings: a few members, not millions of headers.
MAX_ARCHIVE_MEMBERS = 1000
# Annotation keys a clip keeps in its own fields (core) or that the export writes from
# them (heimdall): never kept in, nor written from, a clip's free-form `metadata`.
CLIP_KEYS = frozenset(
    {
        "core:sample_start",
        "core:sample_count",
        "core:freq_lower_edge",
        "core:freq_upper_edge",
        "core:label",
        "core:comment",
        "heimdall:clip_id",
        "heimdall:approved",
        "heimdall:snr_db",
    }
)
MAX_CLOCK_SKEW = timedelta(hours=1)
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Capture:
    sample_start: int
    frequency_hz: int
    datetime: datetime


@dataclass(frozen=True)
class RecordingInfo:
    """What Heimdall needs of a validated recording."""

    datatype: str
    sample_rate: float
    sample_size: int  # bytes per sample (both components of a complex sample)
    header_bytes: int  # core:header_bytes of the first capture (non-conforming datasets)
    sample_count: int
    captures: tuple[Capture, ...]
    annotations: tuple[dict, ...]

    @property
    def start_time(self) -> datetime:
        """The earliest capture's start (captures are ordered by sample, not by time)."""
        return min(capture.datetime for capture in self.captures)

    @property
    def end_time(self) -> datetime:
        """The latest capture's end."""
        return max(self.capture_end(index) for index in range(len(self.captures)))

    def capture_end(self, index: int) -> datetime:
        """When capture `index` ends: its `core:datetime` + its samples / the sample rate."""
        first, end = self.capture_span(index)
        return self.captures[index].datetime + timedelta(seconds=(end - first) / self.sample_rate)

    @property
    def frequency_span(self) -> tuple[int, int]:
        """(lowest, highest) frequency in Hz the captures cover: their centres ∓ half the
        sample rate, within 0-MAX_FREQUENCY_HZ."""
        centres = [capture.frequency_hz for capture in self.captures]
        return (
            max(0, round(min(centres) - self.sample_rate / 2)),
            min(MAX_FREQUENCY_HZ, round(max(centres) + self.sample_rate / 2)),
        )

    def band(self, sample_start: int, sample_count: int) -> tuple[int, int]:
        """(lowest, highest) frequency in Hz that every capture holding samples
        [sample_start, sample_start + sample_count) covers: the intersection of their
        centres ± half the sample rate, within 0-MAX_FREQUENCY_HZ; lowest > highest when
        those captures share no frequency. A clip's edges must lie in it: elsewhere
        there is nothing of it in the samples."""
        end = sample_start + max(sample_count, 1)
        lows, highs = [], []
        for index, capture in enumerate(self.captures):
            first, last = self.capture_span(index)
            if first < end and sample_start < last:
                lows.append(capture.frequency_hz - self.sample_rate / 2)
                highs.append(capture.frequency_hz + self.sample_rate / 2)
        if not lows:
            return self.frequency_span
        return max(0, round(max(lows))), min(MAX_FREQUENCY_HZ, round(min(highs)))

    def capture_span(self, index: int) -> tuple[int, int]:
        """[first, end) sample indices of capture `index`."""
        end = (
            self.captures[index + 1].sample_start
            if index + 1 < len(self.captures)
            else self.sample_count
        )
        return self.captures[index].sample_start, end

    def capture_at(self, sample: int) -> int:
        """Index of the capture holding `sample`."""
        found = 0
        for index, capture in enumerate(self.captures):
            if capture.sample_start <= sample:
                found = index
        return found


def _path(parts) -> str:
    """jsonschema's path (deque of keys and indices) as `captures[1].core:frequency`."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _schema_error(error: jsonschema.exceptions.ValidationError) -> ValidationFailed:
    best = jsonschema.exceptions.best_match([error]) or error
    path = _path(best.absolute_path)
    if best.validator == "required":
        missing = [name for name in best.validator_value if name not in (best.instance or {})]
        if missing:
            name = missing[0]
            path = f"{path}.{name}" if path else name
            return ValidationFailed.for_field(path, "is required (SigMF schema)")
    return ValidationFailed.for_field(path or "meta", f"{best.message} (SigMF schema)")


def parse_meta(raw: bytes, field: str = "meta") -> dict:
    """The metadata object of a `.sigmf-meta` file's bytes."""
    if len(raw) > MAX_META_BYTES:
        raise ValidationFailed.for_field(field, f"at most {MAX_META_BYTES} bytes", len(raw))
    try:  # the API's reader: NaN, 1e400, NUL and lone surrogates are named, not stored
        meta = fast_checked_loads(bytes(raw))
    except BadValue as bad:
        path = field if bad.path == "body" else bad.path  # as the schema checks name them
        raise ValidationFailed.for_field(path, bad.constraint) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValidationFailed.for_field(field, f"is not JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise ValidationFailed.for_field(field, "must be a JSON object")
    return meta


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate_meta(meta: dict, *, now: datetime) -> tuple[dict, list[Capture], list[dict]]:
    """(global, captures, annotations) of metadata that passes the SigMF schema and
    Heimdall's requirements (module docstring); ValidationFailed naming the field."""
    try:
        sigmf_validate.validate(meta)
    except jsonschema.exceptions.ValidationError as exc:
        raise _schema_error(exc) from None
    glob = meta["global"]
    datatype = glob["core:datatype"]
    if datatype not in SUPPORTED_DATATYPES:
        raise ValidationFailed.for_field(
            "global.core:datatype", f"must be one of {', '.join(SUPPORTED_DATATYPES)}", datatype
        )
    if "core:sample_rate" not in glob:
        raise ValidationFailed.for_field("global.core:sample_rate", "is required (Hz)")
    if glob.get("core:num_channels", 1) != 1:
        raise ValidationFailed.for_field(
            "global.core:num_channels",
            "only single-channel recordings are supported",
            glob["core:num_channels"],
        )
    if not meta["captures"]:
        raise ValidationFailed.for_field("captures", "at least one capture is required")
    captures = []
    for index, capture in enumerate(meta["captures"]):
        prefix = f"captures[{index}]"
        frequency = capture.get("core:frequency")
        if frequency is None:
            raise ValidationFailed.for_field(f"{prefix}.core:frequency", "is required (Hz)")
        if not _number(frequency) or not 0 <= frequency <= MAX_FREQUENCY_HZ:
            raise ValidationFailed.for_field(
                f"{prefix}.core:frequency", f"must be 0-{MAX_FREQUENCY_HZ} Hz", frequency
            )
        raw_time = capture.get("core:datetime")
        if raw_time is None:
            raise ValidationFailed.for_field(f"{prefix}.core:datetime", "is required (ISO 8601)")
        when = parse_timestamp(raw_time)
        if when is None:
            raise ValidationFailed.for_field(
                f"{prefix}.core:datetime", "must be an ISO 8601 time", raw_time
            )
        if when > now + MAX_CLOCK_SKEW:
            raise ValidationFailed.for_field(
                f"{prefix}.core:datetime", "must not be in the future", raw_time
            )
        if index and capture.get("core:header_bytes"):
            raise ValidationFailed.for_field(
                f"{prefix}.core:header_bytes", "only the first capture may skip header bytes"
            )
        captures.append(Capture(capture["core:sample_start"], round(frequency), when))
    if captures[0].sample_start != 0:
        raise ValidationFailed.for_field("captures[0].core:sample_start", "must be 0")
    for index in range(1, len(captures)):
        if captures[index].sample_start <= captures[index - 1].sample_start:
            raise ValidationFailed.for_field(
                f"captures[{index}].core:sample_start", "must increase from capture to capture"
            )
    annotations = list(meta["annotations"])
    for index, annotation in enumerate(annotations):
        prefix = f"annotations[{index}]"
        if "core:sample_count" not in annotation:
            raise ValidationFailed.for_field(f"{prefix}.core:sample_count", "is required")
        if annotation["core:sample_count"] < 1:
            raise ValidationFailed.for_field(f"{prefix}.core:sample_count", "must be at least 1")
        low, high = annotation.get("core:freq_lower_edge"), annotation.get("core:freq_upper_edge")
        if (low is None) != (high is None):
            missing = "core:freq_upper_edge" if high is None else "core:freq_lower_edge"
            raise ValidationFailed.for_field(f"{prefix}.{missing}", "give both edges, or neither")
        if low is not None and high < low:
            raise ValidationFailed.for_field(
                f"{prefix}.core:freq_upper_edge", "must not be below core:freq_lower_edge", high
            )
        # Labels and comments are text like any other (apps.core.text): NFC, trimmed, so
        # "FM" and "FM\u200b" are one class; a label is one line.
        # A label longer than a clip's label column is refused, never cut: two labels
        # cut to one would silently merge two classes.
        for key, multiline in (("core:label", False), ("core:comment", True)):
            if isinstance(annotation.get(key), str):
                text = normalize_text(annotation[key])
                limit = LABEL_MAX_LENGTH if key == "core:label" else len(text)
                problem = text_problem(text, max_length=limit, required=False, multiline=multiline)
                if problem:
                    raise ValidationFailed.for_field(f"{prefix}.{key}", problem, annotation[key])
                annotation = annotations[index] = {**annotation, key: text}
    return glob, captures, annotations


def layout(glob: dict, captures_meta: list[dict]) -> tuple[int, int, int]:
    """(sample size, header bytes, trailing bytes) of the data file."""
    try:
        info = dtype_info(glob["core:datatype"])
    except SigMFFileError as exc:
        raise ValidationFailed.for_field("global.core:datatype", str(exc)) from None
    return (
        info["sample_size"],
        int(captures_meta[0].get("core:header_bytes", 0)),
        int(glob.get("core:trailing_bytes", 0)),
    )


def validate_recording(
    meta: dict, *, data_bytes: int, data_sha512: str, now: datetime
) -> RecordingInfo:
    """The recording's description, once metadata and data agree (module docstring)."""
    glob, captures, annotations = validate_meta(meta, now=now)
    sample_size, header, trailing = layout(glob, meta["captures"])
    payload = data_bytes - header - trailing
    datatype = glob["core:datatype"]
    if payload <= 0:
        raise ValidationFailed.for_field(
            "data",
            f"{data_bytes} bytes hold no samples after the header and trailing bytes",
            data_bytes,
        )
    if payload % sample_size:
        raise ValidationFailed.for_field(
            "data",
            f"{payload} bytes of samples is not a whole number of {datatype} samples "
            f"({sample_size} bytes each): a truncated upload or another datatype",
            data_bytes,
        )
    declared = glob.get("core:sha512")
    if declared is not None and declared.lower() != data_sha512:
        raise ValidationFailed.for_field(
            "global.core:sha512", "does not match the data's SHA-512 (a damaged upload)", declared
        )
    sample_count = payload // sample_size
    for index, capture in enumerate(captures):
        if capture.sample_start >= sample_count:
            raise ValidationFailed.for_field(
                f"captures[{index}].core:sample_start",
                f"is past the end of the data ({sample_count} samples)",
                capture.sample_start,
            )
    for index, annotation in enumerate(annotations):
        end = annotation["core:sample_start"] + annotation["core:sample_count"]
        if end > sample_count:
            raise ValidationFailed.for_field(
                f"annotations[{index}].core:sample_count",
                f"ends at sample {end}, past the end of the data ({sample_count} samples)",
                annotation["core:sample_count"],
            )
    info = RecordingInfo(
        datatype=datatype,
        sample_rate=float(glob["core:sample_rate"]),
        sample_size=sample_size,
        header_bytes=header,
        sample_count=sample_count,
        captures=tuple(captures),
        annotations=tuple(annotations),
    )
    _check_capture_ends(info, now)
    _check_annotation_edges(info)
    return info


def edges_problem(
    info: RecordingInfo, sample_start: int, sample_count: int, low: float, high: float
) -> tuple[str, str] | None:
    """("lower"/"upper", why) when a clip's edges are not inside the band of the captures
    its samples lie in (RecordingInfo.band), else None. Shared by uploads and the API."""
    low_hz, high_hz = info.band(sample_start, sample_count)
    if low_hz > high_hz:
        return "lower", (
            "the clip's samples cross captures that share no frequency: split it at the "
            "capture boundary"
        )
    for which, value in (("lower", low), ("upper", high)):
        if not low_hz <= round(value) <= high_hz:
            return which, (
                f"outside {low_hz}-{high_hz} Hz, the band of the capture(s) its samples lie "
                "in (absolute frequencies: core:frequency ± half the sample rate)"
            )
    return None


def _check_annotation_edges(info: RecordingInfo) -> None:
    """Annotation edges are absolute frequencies inside the band of the capture(s) the
    annotation's samples lie in, as for a clip added through the API. (An edge outside
    made a clip with nothing of the signal in it — SNR -30 dB, training segments of
    aliased noise — or one that no later edit or approval could save.)"""
    for index, annotation in enumerate(info.annotations):
        low, high = annotation.get("core:freq_lower_edge"), annotation.get("core:freq_upper_edge")
        if low is None:
            continue
        start, count = annotation["core:sample_start"], annotation["core:sample_count"]
        problem = edges_problem(info, start, count, low, high)
        if problem:
            which, why = problem
            raise ValidationFailed.for_field(
                f"annotations[{index}].core:freq_{which}_edge",
                why,
                low if which == "lower" else high,
            )


def _check_capture_ends(info: RecordingInfo, now: datetime) -> None:
    """Every capture ends by now (+ the clock skew): its samples at the sample rate must
    not run into the future (analysis would make detections there, which ingest refuses)
    or past the calendar (a tiny `core:sample_rate`: the end is not a time at all)."""
    for index, capture in enumerate(info.captures):
        first, end = info.capture_span(index)
        field = f"captures[{index}].core:datetime"
        try:
            ends = info.capture_end(index)
        except OverflowError:
            raise ValidationFailed.for_field(
                field,
                f"its {end - first} samples at {info.sample_rate} samples/s end past the "
                "year 9999: check global.core:sample_rate",
                isoformat_z(capture.datetime),
            ) from None
        if ends > now + MAX_CLOCK_SKEW:
            raise ValidationFailed.for_field(
                field,
                f"its {end - first} samples at {info.sample_rate} samples/s end at "
                f"{isoformat_z(ends)}, in the future",
                isoformat_z(capture.datetime),
            )


def info_from_stored(meta: dict, sample_count: int) -> RecordingInfo:
    """A stored recording's description (its metadata was validated when it came)."""
    glob = meta["global"]
    sample_size, header, _ = layout(glob, meta["captures"])
    return RecordingInfo(
        datatype=glob["core:datatype"],
        sample_rate=float(glob["core:sample_rate"]),
        sample_size=sample_size,
        header_bytes=header,
        sample_count=sample_count,
        captures=tuple(
            Capture(
                c["core:sample_start"],
                round(c["core:frequency"]),
                parse_timestamp(c["core:datetime"]),
            )
            for c in meta["captures"]
        ),
        annotations=(),
    )


# --- uploads --------------------------------------------------------------------------------


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Django's temporary-file upload handler (every file goes to disk, chunk by chunk,
    never whole into memory), also computing each file's SHA-512 and size as it streams:
    `uploaded.sha512`, `uploaded.size`."""

    chunk_size = CHUNK

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self._hash = hashlib.sha512()

    def receive_data_chunk(self, raw_data, start):
        self._hash.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        uploaded = super().file_complete(file_size)
        uploaded.sha512 = self._hash.hexdigest()
        return uploaded


def copy_hashing(source, target) -> tuple[int, str]:
    """Copy a file object into another in chunks: (bytes, SHA-512 hex)."""
    digest, size = hashlib.sha512(), 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    target.flush()
    return size, digest.hexdigest()


def open_archive(handle) -> tuple[tarfile.TarFile, bytes, tarfile.TarInfo]:
    """(tar, meta bytes, data member) of a `.sigmf` archive: exactly one `.sigmf-meta` and
    its `.sigmf-data` (SigMF archives: a tar holding one directory of recordings)."""
    try:
        tar = tarfile.open(fileobj=handle, mode="r:*")  # noqa: SIM115 (returned open)
        members, count = [], 0
        while (member := tar.next()) is not None:  # not getmembers(): count as we go
            count += 1
            if count > MAX_ARCHIVE_MEMBERS:
                raise ValidationFailed.for_field(
                    "archive", f"holds more than {MAX_ARCHIVE_MEMBERS} members"
                )
            if member.isfile():
                members.append(member)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValidationFailed.for_field(
            "archive", f"is not a SigMF archive (tar): {exc}"
        ) from None
    metas = [m for m in members if m.name.endswith(".sigmf-meta")]
    if len(metas) != 1:
        raise ValidationFailed.for_field(
            "archive", f"must hold one .sigmf-meta file; it holds {len(metas)}"
        )
    base = metas[0].name[: -len(".sigmf-meta")]
    data = [m for m in members if m.name == base + ".sigmf-data"]
    if not data:
        raise ValidationFailed.for_field("archive", f"holds no {base}.sigmf-data")
    if metas[0].size > MAX_META_BYTES:
        raise ValidationFailed.for_field("archive", "its .sigmf-meta is over 16 MiB")
    limit = settings.HEIMDALL_RECORDING_MAX_BYTES
    if data[0].size > limit:  # a compressed archive unpacks to more than it sends
        raise PayloadTooLarge(
            f"The archive's data file is {data[0].size} bytes; the limit is {limit} bytes.",
            {"field": "archive", "constraint": f"a data file of at most {limit} bytes",
             "value": data[0].size},
        )  # fmt: skip
    try:
        raw = tar.extractfile(metas[0]).read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ValidationFailed.for_field("archive", f"is truncated: {exc}") from None
    return tar, raw, data[0]


# --- reading ----------------------------------------------------------------------------------


def read_window(path: str, info: RecordingInfo, start: int, count: int) -> np.ndarray:
    """Samples [start, start + count) as complex64 (or float32 for real data), scaled to
    full scale ±1 for integer types (as sigmf's autoscale). The file is memory-mapped for
    this window only: resident memory does not grow with the file."""
    dtype = dtype_info(info.datatype)
    component = dtype["component_dtype"]
    per_sample = 2 if dtype["is_complex"] else 1
    mapped = np.memmap(
        path,
        dtype=component,
        mode="r",
        offset=info.header_bytes + start * info.sample_size,
        shape=(count * per_sample,),
    )
    try:
        values = np.asarray(mapped, dtype=np.float32)
    finally:
        del mapped
    if dtype["is_fixedpoint"]:
        bits = component.itemsize * 8
        if dtype["is_unsigned"]:
            values -= 2 ** (bits - 1)
        values *= 2.0 ** -(bits - 1)
    if dtype["is_complex"]:
        return values.view(np.complex64)
    return values
