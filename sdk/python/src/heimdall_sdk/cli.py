"""`heimdall`: the command line of the Python SDK (typer + rich). docs/sdk.md, "CLI".

Credentials: HEIMDALL_URL and HEIMDALL_API_KEY, else the config file
(HEIMDALL_CONFIG, default ~/.config/heimdall/config.json) that `heimdall login`
writes with mode 0600 — a config file readable by others is refused.
"""

import asyncio
import contextlib
import csv
import hashlib
import inspect
import json
import os
import socket
import stat
import struct
import sys
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from heimdall_sdk import models as m
from heimdall_sdk.client import HeimdallClient
from heimdall_sdk.errors import AnalysisFailedError, APIError, HeimdallError
from heimdall_sdk.resources import Constellations
from heimdall_sdk.websocket import Gap

app = typer.Typer(help="Heimdall from the command line.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

# Detection ids of `heimdall ingest`: uuid5(this namespace, "<line number>:<line>").
INGEST_NAMESPACE = uuid.UUID("6f1c53e4-6d0e-4c1b-9a55-3c1f0b6c2d11")
ANALYZE_MAX_SAMPLES = 480_000  # the server's HEIMDALL_ANALYZE_MAX_SAMPLES default


def config_path() -> Path:
    return Path(os.environ.get("HEIMDALL_CONFIG") or Path.home() / ".config/heimdall/config.json")


def load_config() -> dict[str, Any]:
    path = config_path()
    if not path.exists():
        return {}
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise HeimdallError(
            f"{path} is readable by others (mode {oct(mode & 0o777)}): chmod 600 it"
        )
    return json.loads(path.read_text())


def save_config(data: dict[str, Any]) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2)
    os.chmod(path, 0o600)
    return path


def credentials() -> tuple[str, str]:
    """(URL, API key): HEIMDALL_URL and HEIMDALL_API_KEY, else the config file.

    With both variables set the config file is not read. A saved key is never
    sent to another server than the one it was saved for: HEIMDALL_URL naming
    a different one, without HEIMDALL_API_KEY, is refused.
    """
    env_url = os.environ.get("HEIMDALL_URL")
    env_key = os.environ.get("HEIMDALL_API_KEY")
    if env_url and env_key:
        return env_url, env_key
    config = load_config()
    saved_url = config.get("url")
    if env_url and not env_key and saved_url and env_url.rstrip("/") != saved_url.rstrip("/"):
        raise HeimdallError(
            f"the saved API key is for {saved_url}, not HEIMDALL_URL={env_url}: "
            "set HEIMDALL_API_KEY too, or `heimdall login` there"
        )
    url = env_url or saved_url
    key = env_key or config.get("api_key")
    if not url or not key:
        raise HeimdallError(
            "no credentials: set HEIMDALL_URL and HEIMDALL_API_KEY, or `heimdall login`"
        )
    return url, key


def make_client() -> HeimdallClient:
    url, key = credentials()
    return HeimdallClient(url, api_key=key)


def run(coroutine: Any) -> Any:
    """Run a command's coroutine; API errors become a message and exit status 1."""
    try:
        return asyncio.run(coroutine)
    except APIError as exc:
        field = f" (field {exc.field})" if exc.field else ""
        err.print(
            f"[red]{exc.status} {exc.code}[/red]: {exc.message}{field} [dim]{exc.request_id}[/dim]"
        )
        raise typer.Exit(1) from exc
    except HeimdallError as exc:
        err.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(1) from exc


# --- login -----------------------------------------------------------------------------


@app.command()
def login(
    url: Annotated[str, typer.Option(envvar="HEIMDALL_URL", prompt=True, help="Heimdall's URL")],
    username: Annotated[str | None, typer.Option(help="log in with a password")] = None,
    password: Annotated[str | None, typer.Option(envvar="HEIMDALL_PASSWORD")] = None,
    api_key: Annotated[str | None, typer.Option(help="store this key instead")] = None,
    role: Annotated[str | None, typer.Option(help="role of the minted key")] = None,
) -> None:
    """Store credentials in the config file (0600). With a password, mint an API key for
    this machine: the password itself is never stored."""

    async def go() -> None:
        key = api_key
        if not key:
            user = username or typer.prompt("Username")
            secret = password or typer.prompt("Password", hide_input=True)
            async with HeimdallClient(url, username=user, password=secret) as client:
                created = await client.auth.create_api_key(
                    f"heimdall-cli {socket.gethostname()} {uuid.uuid4().hex[:6]}", role=role
                )
                key = created.key
        async with HeimdallClient(url, api_key=key) as client:
            me = await client.auth.me()
        path = save_config({"url": url, "api_key": key})
        console.print(f"Logged in to {url} as [bold]{me.username}[/bold] ({me.role}); saved {path}")

    run(go())


# --- stations, models ----------------------------------------------------------------------


@app.command()
def stations(status: Annotated[str | None, typer.Option(help="active, inactive, ...")] = None):
    """List the WebSDR stations."""

    async def go() -> None:
        async with make_client() as client:
            answer = await client.stations.list(status=status)
        table = Table("id", "name", "location", "MHz", "status", "last seen")
        for s in answer.data:
            band = f"{s.frequency_min / 1e6:g}–{s.frequency_max / 1e6:g}"
            table.add_row(s.id, s.name, s.location or "", band, s.status, s.last_seen or "")
        console.print(table)
        console.print(f"{answer.total_count} stations, {answer.active_count} active")

    run(go())


@app.command()
def models(model_type: Annotated[str | None, typer.Option("--type")] = None):
    """List the registry's models."""

    async def go() -> None:
        async with make_client() as client:
            answer = await client.models.list(model_type=model_type)
        table = Table("id", "name", "version", "type", "architecture", "status", "valid")
        for x in answer.data:
            table.add_row(
                x.id, x.name, x.version, x.model_type, x.architecture or "", x.status, str(x.valid)
            )
        console.print(table)

    run(go())


# --- detections ------------------------------------------------------------------------------


def _detection_row(d: m.DetectionListItem) -> tuple[str, ...]:
    return (
        d.detection_timestamp,
        d.websdr_station_id,
        f"{d.frequency_hz}",
        f"{d.signal_strength_db:.1f}",
        d.modulation_type or "",
        "" if d.anomaly_score is None else f"{d.anomaly_score:.2f}",
    )


@app.command()
def detections(
    station: Annotated[str | None, typer.Option(help="station id")] = None,
    frequency_min: Annotated[int | None, typer.Option(help="Hz")] = None,
    frequency_max: Annotated[int | None, typer.Option(help="Hz")] = None,
    limit: Annotated[int, typer.Option(help="how many of the newest")] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="live tail")] = False,
) -> None:
    """The newest detections; with --follow, then every new one as it arrives."""
    frequency_range = None
    if frequency_min is not None or frequency_max is not None:
        frequency_range = (frequency_min or 0, frequency_max or 300_000_000_000)

    async def go() -> None:
        async with make_client() as client:
            page = await client.signals.get_detections(
                station_id=station, frequency_range=frequency_range, page_size=limit
            )
            table = Table("time", "station", "Hz", "dB", "mode", "anomaly")
            for d in reversed(page.data):
                table.add_row(*_detection_row(d))
            console.print(table)
            if not follow:
                return
            async with client.websocket.connect() as ws:
                await ws.subscribe_signals(
                    stations=[station] if station else None, frequency_range=frequency_range
                )
                console.print("[dim]following; Ctrl-C stops[/dim]")
                async for item in ws.stream(include_gaps=True):
                    if isinstance(item, Gap):
                        console.print(
                            f"[yellow]reconnected after {item.seconds:.1f} s "
                            f"(close {item.close_code}); detections from "
                            f"{item.disconnected_at:%H:%M:%S} may be missing[/yellow]"
                        )
                        continue
                    console.print("  ".join(_detection_row(item)), highlight=False)

    with contextlib.suppress(KeyboardInterrupt):
        run(go())


# --- ingest ------------------------------------------------------------------------------------

_INT_FIELDS = {"frequency_hz", "bandwidth_hz"}
_FLOAT_FIELDS = {"signal_strength_db", "anomaly_score"}
_JSON_FIELDS = {"signal_features", "processing_metadata"}


def _csv_value(name: str, text: str) -> Any:
    if text == "":
        return None
    if name in _INT_FIELDS:
        return int(float(text)) if "." in text or "e" in text.lower() else int(text)
    if name in _FLOAT_FIELDS:
        return float(text)
    if name == "is_anomaly":
        return text.strip().lower() in ("1", "true", "yes")
    if name in _JSON_FIELDS:
        return json.loads(text)
    return text


def read_detections(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, detection) for each record of a .jsonl or .csv file.

    A record without `id` gets uuid5(INGEST_NAMESPACE, "<line number>:<line>"):
    the same line of the same file always has the same id, so sending it again
    stores nothing (the server counts a duplicate). That makes resuming exact.
    A line that is not a record (bad JSON, a JSON value other than an object, a
    CSV cell of the wrong type) is a HeimdallError naming the file and line.
    """
    with path.open(newline="") as handle:
        if path.suffix.lower() == ".csv":
            reader = csv.reader(handle)
            header = next(reader, None) or []
            for number, row in enumerate(reader, start=2):
                if not any(cell.strip() for cell in row):
                    continue
                try:
                    record = {
                        name: value
                        for name, cell in zip(header, row, strict=False)
                        if (value := _csv_value(name, cell)) is not None
                    }
                except ValueError as exc:
                    raise HeimdallError(f"{path}, line {number}: {exc}") from None
                line = ",".join(row)
                record.setdefault("id", str(uuid.uuid5(INGEST_NAMESPACE, f"{number}:{line}")))
                yield number, record
        else:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise HeimdallError(f"{path}, line {number}: not JSON ({exc})") from None
                if not isinstance(record, dict):
                    raise HeimdallError(f"{path}, line {number}: not a JSON object")
                record.setdefault(
                    "id", str(uuid.uuid5(INGEST_NAMESPACE, f"{number}:{line.rstrip()}"))
                )
                yield number, record


def _fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_path(path: Path) -> Path:
    return path.with_name(path.name + ".heimdall-ingest")


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".jsonl or .csv")],
    batch_size: Annotated[int, typer.Option(help="detections per request (≤ 10,000)")] = 1000,
    restart: Annotated[bool, typer.Option(help="ignore a checkpoint, send from the start")] = False,
) -> None:
    """Upload detections with a progress bar; resumable.

    After each stored batch the number of records done is written to
    FILE.heimdall-ingest. Run the same command again after an interruption and
    it carries on from there; the batch that was in flight is sent again and
    its records, which have the same ids, are counted as duplicates, never
    stored twice.
    """
    checkpoint = checkpoint_path(file)
    fingerprint = _fingerprint(file)
    done = 0
    if checkpoint.exists() and not restart:
        state = json.loads(checkpoint.read_text())
        if state.get("sha256") == fingerprint:
            done = int(state["done"])
        else:
            err.print("[yellow]the file changed since the checkpoint: starting over[/yellow]")
    total = sum(1 for _ in read_detections(file))

    async def go() -> None:
        ingested = duplicates = 0
        async with make_client() as client:
            with Progress(
                TextColumn("[bold]ingest"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeRemainingColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("ingest", total=total, completed=done)
                records = (r for i, (_, r) in enumerate(read_detections(file)) if i >= done)
                position = done

                def stored(count: int, answer: m.IngestResponse) -> None:
                    nonlocal position, ingested, duplicates
                    position += count
                    ingested += answer.ingested
                    duplicates += answer.duplicates
                    checkpoint.write_text(json.dumps({"sha256": fingerprint, "done": position}))
                    progress.update(task, completed=position)

                await client.signals.ingest(records, batch_size=batch_size, on_batch=stored)
        checkpoint.unlink(missing_ok=True)
        resumed = f" (resumed at {done})" if done else ""
        console.print(f"{total} records{resumed}: {ingested} stored, {duplicates} duplicates")

    run(go())


# --- analyze -------------------------------------------------------------------------------------

_SIGMF_FORMATS = {"f32": "f", "f64": "d", "i32": "i", "i16": "h", "i8": "b", "u8": "B", "u16": "H"}
_SIGMF_SCALE = {"i32": 2**31, "i16": 2**15, "i8": 2**7, "u8": 2**7, "u16": 2**15}


def read_wav(path: Path, limit: int) -> tuple[list[Any], float]:
    """First channel of a PCM WAV as floats in ±1 (two channels: I/Q pairs)."""
    with wave.open(str(path), "rb") as w:
        width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
        frames = w.readframes(min(w.getnframes(), limit))
    code = {1: "B", 2: "h", 4: "i"}.get(width)
    if code is None:
        raise ValueError(f"{8 * width}-bit samples: give 8, 16 or 32-bit PCM")
    values = struct.unpack(f"<{len(frames) // width}{code}", frames)
    scale = float(2 ** (8 * width - 1))
    offset = scale if width == 1 else 0.0
    floats = [(v - offset) / scale for v in values]
    if channels == 2:
        return [[floats[i], floats[i + 1]] for i in range(0, len(floats) - 1, 2)], float(rate)
    return floats[::channels], float(rate)


def read_sigmf(meta_path: Path, limit: int) -> tuple[list[Any], float, int | None]:
    """Samples, sample rate and centre frequency of a SigMF recording (sigmf.org spec:
    `core:datatype` like cf32_le / ri16_le; the data file beside the .sigmf-meta)."""
    meta = json.loads(meta_path.read_text())
    if not isinstance(meta, dict) or not isinstance(meta.get("global"), dict):
        raise ValueError("not SigMF metadata (a JSON object with a 'global' object)")
    glob = meta["global"]
    datatype = glob["core:datatype"]
    complex_ = datatype.startswith("c")
    kind = datatype[1:].split("_")[0]
    endian = ">" if datatype.endswith("_be") else "<"
    code = _SIGMF_FORMATS.get(kind)
    if code is None:
        raise ValueError(f"core:datatype {datatype!r} is not one this command reads")
    size = struct.calcsize(code)
    per_sample = 2 if complex_ else 1
    data_path = meta_path.with_suffix(".sigmf-data")
    raw = data_path.read_bytes()[: limit * per_sample * size]
    count = len(raw) // size
    values = struct.unpack(f"{endian}{count}{code}", raw[: count * size])
    scale = float(_SIGMF_SCALE.get(kind, 1))
    offset = scale if kind.startswith("u") else 0.0
    floats = [(v - offset) / scale for v in values]
    samples: list[Any] = (
        [[floats[i], floats[i + 1]] for i in range(0, len(floats) - 1, 2)] if complex_ else floats
    )
    captures = meta.get("captures") or [{}]
    frequency = captures[0].get("core:frequency")
    return samples, float(glob["core:sample_rate"]), int(frequency) if frequency else None


def _read_or_refuse(reader: Any, file: Path, limit: int) -> Any:
    """`reader(file, limit)`; a file it cannot read is a usage error (exit 2) saying why."""
    try:
        return reader(file, limit)
    except KeyError as exc:
        why = f"no {exc} in its metadata"
    except (OSError, ValueError, TypeError, EOFError, struct.error, wave.Error) as exc:
        why = str(exc) or "it ends too soon"
    raise typer.BadParameter(f"cannot read it: {why}", param_hint="FILE")


@app.command()
def analyze(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".wav or .sigmf-meta")],
    frequency: Annotated[int | None, typer.Option(help="centre frequency, Hz")] = None,
    fft_size: Annotated[int | None, typer.Option()] = None,
    max_samples: Annotated[
        int, typer.Option(help="analyse at most this many")
    ] = ANALYZE_MAX_SAMPLES,
) -> None:
    """Spectrum analysis of a recording: features and carriers."""
    if file.name.endswith(".sigmf-meta"):
        samples, rate, centre = _read_or_refuse(read_sigmf, file, max_samples)
        frequency = frequency if frequency is not None else centre
        if frequency is None:
            # Without a centre every frequency would be an offset from 0 Hz, printed as if
            # absolute; Heimdall's upload refuses such a file for the same reason.
            raise typer.BadParameter(
                "captures[0].core:frequency is missing: give the centre with --frequency",
                param_hint="FILE",
            )
    elif file.suffix.lower() == ".wav":
        samples, rate = _read_or_refuse(read_wav, file, max_samples)
    else:
        raise typer.BadParameter("give a .wav or a .sigmf-meta file", param_hint="FILE")

    async def go() -> None:
        async with make_client() as client:
            result = await client.signals.analyze(
                signal_data=samples, sample_rate=rate, frequency=frequency, fft_size=fft_size
            )
        features = Table(
            "feature", "value", title=f"{file.name}: {len(samples)} samples at {rate:g} Hz"
        )
        for name, value in result.signal_features.items():
            features.add_row(name, f"{value}")
        features.add_row("anomaly_score", f"{result.anomaly_score}")
        console.print(features)
        carriers = Table("Hz", "bandwidth Hz", "dB", "SNR dB", "mode", title="carriers")
        for c in result.carriers:
            carriers.add_row(
                f"{c.frequency_hz}", f"{c.bandwidth_hz}", f"{c.signal_strength_db}",
                f"{c.snr_estimate}", c.modulation_type,
            )  # fmt: skip
        console.print(carriers)

    run(go())


# --- train -----------------------------------------------------------------------------------


@app.command()
def train(
    config_name: Annotated[str, typer.Option(help="a named training configuration")],
    job_name: Annotated[str | None, typer.Option()] = None,
    watch: Annotated[bool, typer.Option(help="follow progress until the job ends")] = False,
    auto_activate: Annotated[bool | None, typer.Option()] = None,
) -> None:
    """Start a training job from a named configuration; --watch shows its progress bar
    and a table of its epochs from /ws/training/{job_id}."""

    async def go() -> int:
        async with (
            make_client() as client,
            client.training.watch_job(None) if watch else _null() as socket,
        ):
            # The socket (every job's events) is open before the job exists: nothing is missed.
            job = await client.training.create_job(
                job_name or f"{config_name} from the CLI",
                config_name=config_name,
                auto_activate=auto_activate,
            )
            console.print(f"job [bold]{job.id}[/bold] {job.status}")
            if socket is None:
                return 0
            return await _watch(socket, job.id)

    code = run(go())
    raise typer.Exit(code)


class _null:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


async def _watch(socket: Any, job_id: str) -> int:
    epochs = Table("epoch", "train loss", "val loss", "train acc", "val acc", "lr", title="epochs")
    last_epoch = 0
    outcome = 1
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), console=console
    ) as progress:
        bar = progress.add_task("queued", total=100)
        async for event in socket.events():
            if isinstance(event, Gap) or event.get("job_id") != job_id:
                continue
            kind = event.get("event")
            if kind == "training_status":
                progress.update(
                    bar,
                    completed=event.get("progress_percent") or 0,
                    description=f"{event['status']} {event.get('step', '')}",
                )
                epoch = event.get("current_epoch") or 0
                if event.get("step") == "training" and epoch > last_epoch:
                    last_epoch = epoch
                    x = event.get("metrics") or {}
                    epochs.add_row(
                        f"{epoch}/{event.get('total_epochs')}",
                        *(_fmt(x.get(k)) for k in ("train_loss", "val_loss", "train_accuracy",
                                                   "val_accuracy", "learning_rate")),
                    )  # fmt: skip
            elif kind == "train_complete":
                progress.update(bar, completed=100, description="completed")
                outcome = 0
                break
            elif kind == "train_failed":
                progress.update(bar, description=event.get("status", "failed"))
                err.print(f"[red]{event.get('status')}[/red]: {event.get('error')}")
                break
    console.print(epochs)
    if outcome == 0:
        console.print(f"completed: model {event.get('model_id')}")
    return outcome


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.4g}"


# --- localize ------------------------------------------------------------------------------


def read_measurements(path: Path) -> dict[str, Any]:
    """A localize request from FILE: JSON (the request body, or a list of measurements)
    or CSV with websdr_station_id, signal_strength_db[, timestamp]. A file that is
    not one is a HeimdallError saying where."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        measurements = []
        for number, row in enumerate(rows, start=2):
            try:
                measurements.append(
                    {k: (float(v) if k == "signal_strength_db" else v) for k, v in row.items() if v}
                )
            except ValueError as exc:
                raise HeimdallError(f"{path}, line {number}: {exc}") from None
        return {"measurements": measurements}
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise HeimdallError(f"{path}: not JSON ({exc})") from None
    request = {"measurements": data} if isinstance(data, list) else data
    if not isinstance(request, dict):
        raise HeimdallError(f"{path}: give the request body (an object) or a list of measurements")
    fields = set(inspect.signature(Constellations.localize).parameters) - {
        "self",
        "constellation_id",
    }
    unknown = sorted(set(request) - fields)
    if unknown:
        raise HeimdallError(f"{path}: unknown fields {unknown}; a request has {sorted(fields)}")
    items = request.get("measurements")
    if items is not None and not (
        isinstance(items, list) and all(isinstance(x, dict) for x in items)
    ):
        raise HeimdallError(f"{path}: measurements must be a list of objects")
    return request


@app.command()
def localize(
    constellation: Annotated[str, typer.Argument(help="constellation id")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".json or .csv")],
    frequency: Annotated[int | None, typer.Option(help="Hz")] = None,
    method: Annotated[str | None, typer.Option(help="auto, model or wls")] = None,
) -> None:
    """Locate a transmitter from the signal strengths in FILE."""
    request = read_measurements(file)
    if frequency is not None:
        request["frequency_hz"] = frequency
    if method is not None:
        request["method"] = method

    async def go() -> None:
        async with make_client() as client:
            fix = await client.constellations.localize(constellation, **request)
        console.print(
            f"[bold]{fix.latitude:.5f}, {fix.longitude:.5f}[/bold] ({fix.method}); "
            f"CEP50 {fix.uncertainty.cep50_m:.0f} m, CEP95 {fix.uncertainty.cep95_m:.0f} m; "
            f"localization {fix.id}"
        )

    run(go())


# --- recordings ------------------------------------------------------------------------------

recordings_app = typer.Typer(
    help="SigMF recordings: upload, list, annotations (docs/recordings.md).",
    no_args_is_help=True,
)
app.add_typer(recordings_app, name="recordings")


class _CountingFile:
    """A binary file that reports the bytes read from it (the upload's progress bar);
    httpx reads it in chunks, rewinding first, and takes its length from fstat."""

    def __init__(self, path: Path, on_read: Any) -> None:
        self._file = path.open("rb")
        self._on_read = on_read
        self.name = path.name

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        self._on_read(len(chunk))
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset == 0 and whence == 0:
            self._on_read(-self._file.tell())
        return self._file.seek(offset, whence)

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()


def _sigmf_files(file: Path) -> dict[str, Path]:
    if file.name.endswith(".sigmf"):
        return {"archive": file}
    if file.name.endswith(".sigmf-meta"):
        data = file.with_suffix(".sigmf-data")
        if not data.is_file():
            raise typer.BadParameter(f"no {data.name} beside it", param_hint="FILE")
        return {"meta": file, "data": data}
    raise typer.BadParameter("give a .sigmf-meta (with its .sigmf-data) or a .sigmf", "FILE")


def _analysis_line(rec: m.Recording) -> str:
    a = rec.analysis or {}
    factor = a.get("real_time_factor")
    speed = f", {factor:g}x real time" if factor else ""
    return (
        f"{a.get('windows', 0)} windows: {a.get('detections_found', 0)} detections "
        f"({a.get('detections_ingested', 0)} new, {a.get('duplicates', 0)} already stored), "
        f"{a.get('anomalies', 0)} anomalies, {a.get('proposed_clips', 0)} proposed clips{speed}"
    )


@recordings_app.command("upload")
def recordings_upload(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, help=".sigmf-meta (+ .sigmf-data) or .sigmf"),
    ],
    station: Annotated[
        str | None, typer.Option(help="station id (default: from the metadata)")
    ] = None,
    name: Annotated[str | None, typer.Option(help="default: the file's name")] = None,
    description: Annotated[str | None, typer.Option()] = None,
    analyze: Annotated[bool, typer.Option(help="start analyzing it into detections")] = False,
    wait: Annotated[
        bool, typer.Option(help="with --analyze: wait for the analysis to end")
    ] = False,
    window_seconds: Annotated[float | None, typer.Option(help="analysis window, s")] = None,
    fft_size: Annotated[int | None, typer.Option(help="analysis FFT size, a power of two")] = None,
    timeout: Annotated[float, typer.Option(help="--wait at most this long, s")] = 3600.0,
) -> None:
    """Upload a SigMF recording, streamed from disk with a progress bar; --analyze --wait
    then runs the analysis and shows its progress and summary."""
    paths = _sigmf_files(file)
    total = sum(p.stat().st_size for p in paths.values())
    if wait and not analyze:
        raise typer.BadParameter("--wait goes with --analyze", param_hint="--wait")

    async def go() -> int:
        async with make_client() as client:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeRemainingColumn(),
                console=console,
            ) as progress:
                bar = progress.add_task("upload", total=total)

                def read(count: int) -> None:
                    progress.advance(bar, count)

                files = {k: _CountingFile(p, read) for k, p in paths.items()}
                try:
                    rec = await client.recordings.upload(
                        station_id=station, name=name, description=description, **files
                    )
                finally:
                    for handle in files.values():
                        handle.close()
                progress.update(bar, completed=total)
            console.print(
                f"recording [bold]{rec.id}[/bold] at {rec.websdr_station_id}: {rec.datatype}, "
                f"{rec.sample_count} samples at {rec.sample_rate:g} Hz, "
                f"{rec.frequency_min_hz}–{rec.frequency_max_hz} Hz, {rec.start_time}, "
                f"{rec.clip_count} clips"
            )
            if not analyze:
                return 0
            await client.recordings.analyze(
                rec.id, window_seconds=window_seconds, fft_size=fft_size
            )
            if not wait:
                console.print("analysis started")
                return 0
            with Progress(
                TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), console=console
            ) as progress:
                bar = progress.add_task("analysis", total=100)

                def show(r: m.Recording) -> None:
                    progress.update(
                        bar,
                        completed=r.analysis_progress_percent or 0,
                        description=f"analysis {r.analysis_status}",
                    )

                try:
                    done = await client.recordings.wait_for_analysis(
                        rec.id, timeout=timeout, poll_interval=1.0, on_progress=show
                    )
                except AnalysisFailedError as exc:
                    err.print(f"[red]analysis failed[/red]: {exc.analysis_error}")
                    return 1
            console.print(f"analysis completed: {_analysis_line(done)}")
            return 0

    raise typer.Exit(run(go()))


@recordings_app.command("list")
def recordings_list(
    station: Annotated[str | None, typer.Option(help="station id")] = None,
    frequency: Annotated[int | None, typer.Option(help="Hz: recordings covering it")] = None,
    status: Annotated[str | None, typer.Option(help="analysis status")] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 50,
) -> None:
    """Recordings, newest first."""

    async def go() -> None:
        async with make_client() as client:
            pager = client.recordings.iter(
                station_id=station,
                frequency=frequency,
                analysis_status=status,
                page_size=min(limit, 100),
                limit=limit,
            )
            rows = [r async for r in pager]
        table = Table("id", "name", "station", "start", "MHz", "s", "type", "analysis", "clips")
        for r in rows:
            band = f"{r.frequency_min_hz / 1e6:.4f}–{r.frequency_max_hz / 1e6:.4f}"
            table.add_row(
                r.id, r.name, r.websdr_station_id, r.start_time, band,
                f"{r.sample_count / r.sample_rate:.1f}", r.datatype, r.analysis_status or "",
                f"{r.approved_clip_count}/{r.clip_count} approved",
            )  # fmt: skip
        console.print(table)
        console.print(f"{len(rows)} recordings")

    run(go())


@recordings_app.command("annotations")
def recordings_annotations(
    recording: Annotated[str, typer.Argument(help="recording id")],
    approved: Annotated[
        bool | None, typer.Option("--approved/--unapproved", help="only approved or not")
    ] = None,
    label: Annotated[str | None, typer.Option()] = None,
) -> None:
    """A recording's labelled clips (SigMF annotations)."""

    async def go() -> None:
        async with make_client() as client:
            rec = await client.recordings.get(recording)
            clips = [
                c async for c in client.recordings.iter_annotations(
                    recording, approved=approved, label=label
                )
            ]  # fmt: skip
        table = Table(
            "id", "label", "start s", "length s", "Hz low", "Hz high", "SNR dB", "source",
            "approved", title=f"{rec.name} ({rec.id})",
        )  # fmt: skip
        for c in clips:
            table.add_row(
                c.id, c.label or "", f"{c.sample_start / rec.sample_rate:.3f}",
                f"{c.sample_count / rec.sample_rate:.3f}",
                "" if c.freq_lower_edge is None else str(c.freq_lower_edge),
                "" if c.freq_upper_edge is None else str(c.freq_upper_edge),
                "" if c.snr_db is None else f"{c.snr_db:.1f}", c.source or "",
                "yes" if c.approved else "no",
            )  # fmt: skip
        console.print(table)
        console.print(f"{len(clips)} clips, {sum(1 for c in clips if c.approved)} approved")

    run(go())


def main() -> None:
    try:
        app()
    except HeimdallError as exc:
        err.print(f"[red]error[/red]: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
