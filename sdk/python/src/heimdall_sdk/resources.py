"""The endpoint groups of HeimdallClient: one class per group, one method per operation.

Method names follow seed 004 where it names them (`signals.get_detections`,
`signals.analyze`); the rest are `list`, `get`, `create`, `update`, `patch`,
`delete` and the action's name. Every method returns a typed model from
heimdall_sdk.models (None for 204 answers) and raises heimdall_sdk.errors
on error answers. `iter_*` methods return lazy AsyncPagers.
"""

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from heimdall_sdk import models as m
from heimdall_sdk._operations import operation
from heimdall_sdk._pagination import AsyncPager
from heimdall_sdk._transport import AsyncTransport
from heimdall_sdk.errors import AnalysisFailedError, HeimdallError

Time = str | datetime
Range = tuple[float, float] | Sequence[float]
TimeRange = tuple[Time, Time] | Sequence[Time]

INGEST_MAX_BATCH = 10_000  # the server's bound per request (docs/signals.md)


def _p(value: Any) -> str:
    """A path parameter, escaped."""
    return quote(str(value), safe="")


def _time(value: Time | None) -> str | None:
    """ISO 8601 in UTC with `Z` (naive datetimes are taken as UTC, as the server does)."""
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _body(**fields: Any) -> dict[str, Any]:
    """A JSON body of the fields that were given (None means: leave it out)."""
    return {k: v for k, v in fields.items() if v is not None}


def _samples(data: Any) -> list:
    """Samples as JSON: real numbers, or [i, q] pairs for complex input (numpy or lists)."""
    if hasattr(data, "tolist"):
        data = data.tolist()
    out = []
    for value in data:
        if isinstance(value, complex):
            out.append([value.real, value.imag])
        else:
            out.append(value)
    return out


class _Group:
    def __init__(self, transport: AsyncTransport) -> None:
        self._t = transport


class Auth(_Group):
    """Log-in, tokens, who am I, and API keys (docs/api.md)."""

    @operation("login_create", "POST", "/api/v1/auth/login")
    async def login(self, username: str, password: str) -> m.Token:
        """Log in with a password; the client uses the tokens from then on."""
        return m.Token.from_dict(await self._t.login(username, password))

    @operation("refresh_create", "POST", "/api/v1/auth/refresh")
    async def refresh(self) -> m.Token:
        """Trade the kept refresh token for a new pair (the client refreshes by itself too)."""
        return m.Token.from_dict(await self._t.refresh())

    @operation("me_retrieve", "GET", "/api/v1/auth/me")
    async def me(self) -> m.UserSummary:
        return m.UserSummary.from_dict(await self._t.request("GET", "/api/v1/auth/me"))

    @operation("api_key_list_create", "POST", "/api/v1/auth/api-keys")
    async def create_api_key(
        self, name: str, *, role: str | None = None, expires_at: Time | None = None
    ) -> m.ApiKeyCreated:
        """Mint a key (needs a password login); its `key` is shown only in this answer."""
        body = _body(name=name, role=role, expires_at=_time(expires_at))
        return m.ApiKeyCreated.from_dict(
            await self._t.request("POST", "/api/v1/auth/api-keys", json=body)
        )

    @operation("api_key_list_retrieve", "GET", "/api/v1/auth/api-keys")
    async def list_api_keys(
        self, *, skip: int | None = None, limit: int | None = None
    ) -> m.ApiKeyList:
        """Your unrevoked keys (admins: everyone's), newest first."""
        params = {"skip": skip, "limit": limit}
        return m.ApiKeyList.from_dict(
            await self._t.request("GET", "/api/v1/auth/api-keys", params=params)
        )

    def iter_api_keys(self, *, page_size: int = 100) -> AsyncPager[m.ApiKey]:
        async def fetch(params: dict) -> m.ApiKeyList:
            return await self.list_api_keys(**params)

        return AsyncPager(fetch, mode="offset", items="data", page_size=page_size)

    @operation("api_key_detail_destroy", "DELETE", "/api/v1/auth/api-keys/{key_id}")
    async def revoke_api_key(self, key_id: str) -> None:
        """Revoke: effective at once, open sockets with it close with 4401."""
        await self._t.request("DELETE", f"/api/v1/auth/api-keys/{_p(key_id)}")


class Users(_Group):
    @operation("user_directory_retrieve", "GET", "/api/v1/users")
    async def list(
        self, *, search: str | None = None, skip: int | None = None, limit: int | None = None
    ) -> m.UserDirectory:
        """The user directory (to share constellations with)."""
        params = {"search": search, "skip": skip, "limit": limit}
        return m.UserDirectory.from_dict(
            await self._t.request("GET", "/api/v1/users", params=params)
        )


class Health(_Group):
    @operation("health_retrieve", "GET", "/health")
    async def get(self) -> m.Health:
        """`/health` (no credentials needed, sent anyway)."""
        response = await self._t.request("GET", "/health", raw=True)
        return m.Health.from_dict(response.json())


class Stations(_Group):
    """WebSDR stations (docs/api.md, "Stations")."""

    @operation("station_list_retrieve", "GET", "/api/v1/stations")
    async def list(self, *, status: str | None = None) -> m.StationListResponse:
        return m.StationListResponse.from_dict(
            await self._t.request("GET", "/api/v1/stations", params={"status": status})
        )

    @operation("station_detail_retrieve", "GET", "/api/v1/stations/{station_id}")
    async def get(self, station_id: str) -> m.StationDetail:
        return m.StationDetail.from_dict(
            await self._t.request("GET", f"/api/v1/stations/{_p(station_id)}")
        )

    @operation("station_status_retrieve", "GET", "/api/v1/stations/{station_id}/status")
    async def status(self, station_id: str) -> m.StationStatus:
        return m.StationStatus.from_dict(
            await self._t.request("GET", f"/api/v1/stations/{_p(station_id)}/status")
        )

    @operation("station_list_create", "POST", "/api/v1/stations")
    async def create(self, **fields: Any) -> m.StationDetail:
        """Admins: `id` (slug), `name`, `url`, `latitude`, `longitude`, `frequency_min`, ..."""
        return m.StationDetail.from_dict(
            await self._t.request("POST", "/api/v1/stations", json=fields)
        )

    @operation("station_detail_update", "PUT", "/api/v1/stations/{station_id}")
    async def update(self, station_id: str, **fields: Any) -> m.StationDetail:
        """Full update: replaces `api_config`."""
        return m.StationDetail.from_dict(
            await self._t.request("PUT", f"/api/v1/stations/{_p(station_id)}", json=fields)
        )

    @operation("station_detail_partial_update", "PATCH", "/api/v1/stations/{station_id}")
    async def patch(self, station_id: str, **fields: Any) -> m.StationDetail:
        """Partial update: object fields are JSON Merge Patches (RFC 7396)."""
        return m.StationDetail.from_dict(
            await self._t.request("PATCH", f"/api/v1/stations/{_p(station_id)}", json=fields)
        )

    @operation("station_detail_destroy", "DELETE", "/api/v1/stations/{station_id}")
    async def delete(self, station_id: str) -> None:
        await self._t.request("DELETE", f"/api/v1/stations/{_p(station_id)}")


@dataclass
class IngestResult:
    """What `signals.ingest` did over all its batches."""

    ingested: int = 0
    duplicates: int = 0
    batches: int = 0


def _detection_params(
    frequency_range: Range | None,
    time_range: TimeRange | None,
    station_id: str | None,
    **rest: Any,
) -> dict[str, Any]:
    params: dict[str, Any] = dict(rest)
    if frequency_range is not None:
        params["frequency_min"], params["frequency_max"] = (int(f) for f in frequency_range)
    if time_range is not None:
        params["time_start"], params["time_end"] = (_time(t) for t in time_range)
    params["websdr_station"] = station_id
    return params


class Signals(_Group):
    """Detections (query, ingest), analysis (docs/signals.md)."""

    @operation("detection_list_retrieve", "GET", "/api/v1/signals/detections")
    async def get_detections(
        self,
        *,
        frequency_range: Range | None = None,
        time_range: TimeRange | None = None,
        station_id: str | None = None,
        modulation_type: str | None = None,
        is_anomaly: bool | None = None,
        min_anomaly_score: float | None = None,
        page: int | None = None,
        page_size: int | None = None,
        cursor: str | None = None,
    ) -> m.DetectionListResponse:
        """One page of detections, newest first (seed 004's call).

        `frequency_range` (Hz, both ends included) and `time_range` (ISO 8601 or
        datetimes) are pairs; `cursor=""` starts a keyset walk (see iter_detections).
        """
        params = _detection_params(
            frequency_range,
            time_range,
            station_id,
            modulation_type=modulation_type,
            is_anomaly=is_anomaly,
            min_anomaly_score=min_anomaly_score,
            page=page,
            page_size=page_size,
            cursor=cursor,
        )
        return m.DetectionListResponse.from_dict(
            await self._t.request("GET", "/api/v1/signals/detections", params=params)
        )

    def iter_detections(
        self,
        *,
        frequency_range: Range | None = None,
        time_range: TimeRange | None = None,
        station_id: str | None = None,
        modulation_type: str | None = None,
        is_anomaly: bool | None = None,
        min_anomaly_score: float | None = None,
        page_size: int = 500,
        limit: int | None = None,
    ) -> AsyncPager[m.DetectionListItem]:
        """Every matching detection, newest first, by keyset cursor (each exactly once)."""

        async def fetch(params: dict) -> m.DetectionListResponse:
            return await self.get_detections(
                frequency_range=frequency_range,
                time_range=time_range,
                station_id=station_id,
                modulation_type=modulation_type,
                is_anomaly=is_anomaly,
                min_anomaly_score=min_anomaly_score,
                **params,
            )

        return AsyncPager(fetch, mode="cursor", items="data", page_size=page_size, limit=limit)

    @operation("detection_detail_retrieve", "GET", "/api/v1/signals/detections/{detection_id}")
    async def get_detection(self, detection_id: str) -> m.Detection:
        return m.Detection.from_dict(
            await self._t.request("GET", f"/api/v1/signals/detections/{_p(detection_id)}")
        )

    @operation("detection_list_create", "POST", "/api/v1/signals/detections")
    async def ingest(
        self,
        detections: Iterable[Mapping[str, Any]],
        *,
        batch_size: int = 1000,
        on_batch: Callable[[int, m.IngestResponse], None] | None = None,
    ) -> IngestResult:
        """Store detections in batches of `batch_size` (at most 10,000).

        A detection without `id` is given a random UUID first: a detection id
        names one detection, so a batch sent twice (a retry after a lost
        answer) stores nothing new — its items count as `duplicates`. That is
        what makes this call safe to retry on connection errors. Each batch is
        all or nothing (a ValidationError or ConflictError names
        `detections[i].field` within the batch). `on_batch(items, response)`
        is called after each batch.
        """
        if not 1 <= batch_size <= INGEST_MAX_BATCH:
            raise ValueError(f"batch_size must be 1..{INGEST_MAX_BATCH}")
        result = IngestResult()
        batch: list[dict[str, Any]] = []

        async def send() -> None:
            answer = m.IngestResponse.from_dict(
                await self._t.request(
                    "POST", "/api/v1/signals/detections", json={"detections": batch},
                    idempotent=True,
                )
            )  # fmt: skip
            result.ingested += answer.ingested
            result.duplicates += answer.duplicates
            result.batches += 1
            if on_batch:
                on_batch(len(batch), answer)

        for item in detections:
            detection = dict(item)
            detection.setdefault("id", str(uuid.uuid4()))
            if isinstance(detection.get("detection_timestamp"), datetime):
                detection["detection_timestamp"] = _time(detection["detection_timestamp"])
            batch.append(detection)
            if len(batch) >= batch_size:
                await send()
                batch = []
        if batch:
            await send()
        return result

    @operation("analyze_create", "POST", "/api/v1/signals/analyze")
    async def analyze(
        self,
        *,
        signal_data: Any,
        sample_rate: float,
        frequency: int | None = None,
        duration: float | None = None,
        fft_size: int | None = None,
        overlap: float | None = None,
        window_function: str | None = None,
    ) -> m.AnalyzeResponse:
        """Spectrum analysis of one chunk (seed 004's call); nothing is stored.

        `signal_data`: real samples, complex samples, or [i, q] pairs (lists or numpy).
        """
        config = _body(fft_size=fft_size, overlap=overlap, window_function=window_function)
        body: dict[str, Any] = {
            "signal_data": _body(
                samples=_samples(signal_data),
                sample_rate=sample_rate,
                frequency=frequency,
                duration=duration,
            )
        }
        if config:
            body["analysis_config"] = config
        return m.AnalyzeResponse.from_dict(
            await self._t.request("POST", "/api/v1/signals/analyze", json=body)
        )


class Anomalies(_Group):
    """Anomaly events (docs/signals.md)."""

    @operation("anomaly_list_retrieve", "GET", "/api/v1/anomalies")
    async def list(
        self,
        *,
        severity: str | Sequence[str] | None = None,
        acknowledged: bool | None = None,
        station_id: str | None = None,
        time_range: TimeRange | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> m.AnomalyList:
        params: dict[str, Any] = {
            "severity": severity,
            "acknowledged": acknowledged,
            "station": station_id,
            "page": page,
            "page_size": page_size,
        }
        if time_range is not None:
            params["time_start"], params["time_end"] = (_time(t) for t in time_range)
        return m.AnomalyList.from_dict(
            await self._t.request("GET", "/api/v1/anomalies", params=params)
        )

    def iter(self, *, page_size: int = 100, **filters: Any) -> AsyncPager[m.AnomalyListItem]:
        """Every matching anomaly event, page by page."""

        async def fetch(params: dict) -> m.AnomalyList:
            return await self.list(**filters, **params)

        return AsyncPager(fetch, mode="page", items="data", page_size=page_size)

    @operation("anomaly_detail_retrieve", "GET", "/api/v1/anomalies/{anomaly_id}")
    async def get(self, anomaly_id: str) -> m.AnomalyEvent:
        return m.AnomalyEvent.from_dict(
            await self._t.request("GET", f"/api/v1/anomalies/{_p(anomaly_id)}")
        )

    @operation("anomaly_acknowledge_create", "POST", "/api/v1/anomalies/{anomaly_id}/acknowledge")
    async def acknowledge(
        self, anomaly_id: str, *, notes: str | None = None
    ) -> m.AcknowledgeResponse:
        """Operators and admins, once (ConflictError the second time)."""
        return m.AcknowledgeResponse.from_dict(
            await self._t.request(
                "POST", f"/api/v1/anomalies/{_p(anomaly_id)}/acknowledge", json=_body(notes=notes)
            )
        )


class Statistics(_Group):
    @operation("statistics_summary_retrieve", "GET", "/api/v1/statistics/summary")
    async def summary(self, *, time_period: str | None = None) -> m.StatisticsSummary:
        """`time_period`: 1h, 24h, 7d or 30d."""
        return m.StatisticsSummary.from_dict(
            await self._t.request(
                "GET", "/api/v1/statistics/summary", params={"time_period": time_period}
            )
        )

    @operation("frequency_usage_retrieve", "GET", "/api/v1/statistics/frequency-usage")
    async def frequency_usage(
        self,
        *,
        frequency_range: Range,
        time_period: str | None = None,
        granularity: str | None = None,
        bin_width_hz: int | None = None,
    ) -> m.FrequencyUsage:
        low, high = (int(f) for f in frequency_range)
        params = {
            "frequency_min": low,
            "frequency_max": high,
            "time_period": time_period,
            "granularity": granularity,
            "bin_width_hz": bin_width_hz,
        }
        return m.FrequencyUsage.from_dict(
            await self._t.request("GET", "/api/v1/statistics/frequency-usage", params=params)
        )


class Constellations(_Group):
    """Constellations, their member stations and shares (docs/constellations.md)."""

    @operation("constellation_list_retrieve", "GET", "/api/v1/constellations")
    async def list(
        self, *, skip: int | None = None, limit: int | None = None
    ) -> m.ConstellationList:
        return m.ConstellationList.from_dict(
            await self._t.request(
                "GET", "/api/v1/constellations", params={"skip": skip, "limit": limit}
            )
        )

    def iter(self, *, page_size: int = 100) -> AsyncPager[m.ConstellationListItem]:
        async def fetch(params: dict) -> m.ConstellationList:
            return await self.list(**params)

        return AsyncPager(fetch, mode="offset", items="data", page_size=page_size)

    @operation("constellation_list_create", "POST", "/api/v1/constellations")
    async def create(self, name: str, *, description: str | None = None) -> m.Constellation:
        return m.Constellation.from_dict(
            await self._t.request(
                "POST", "/api/v1/constellations", json=_body(name=name, description=description)
            )
        )

    @operation("constellation_detail_retrieve", "GET", "/api/v1/constellations/{constellation_id}")
    async def get(self, constellation_id: str) -> m.ConstellationDetail:
        return m.ConstellationDetail.from_dict(
            await self._t.request("GET", f"/api/v1/constellations/{_p(constellation_id)}")
        )

    @operation("constellation_detail_update", "PUT", "/api/v1/constellations/{constellation_id}")
    async def update(
        self, constellation_id: str, *, name: str | None = None, description: str | None = None
    ) -> m.Constellation:
        return m.Constellation.from_dict(
            await self._t.request(
                "PUT",
                f"/api/v1/constellations/{_p(constellation_id)}",
                json=_body(name=name, description=description),
            )
        )

    @operation(
        "constellation_detail_destroy", "DELETE", "/api/v1/constellations/{constellation_id}"
    )
    async def delete(self, constellation_id: str) -> None:
        await self._t.request("DELETE", f"/api/v1/constellations/{_p(constellation_id)}")

    @operation("member_list_create", "POST", "/api/v1/constellations/{constellation_id}/members")
    async def add_member(self, constellation_id: str, station_id: str) -> m.Member:
        return m.Member.from_dict(
            await self._t.request(
                "POST",
                f"/api/v1/constellations/{_p(constellation_id)}/members",
                json={"websdr_station_id": station_id},
            )
        )

    @operation(
        "member_detail_destroy",
        "DELETE",
        "/api/v1/constellations/{constellation_id}/members/{station_id}",
    )
    async def remove_member(self, constellation_id: str, station_id: str) -> None:
        await self._t.request(
            "DELETE", f"/api/v1/constellations/{_p(constellation_id)}/members/{_p(station_id)}"
        )

    @operation("share_list_retrieve", "GET", "/api/v1/constellations/{constellation_id}/shares")
    async def list_shares(self, constellation_id: str) -> m.ShareList:
        return m.ShareList.from_dict(
            await self._t.request("GET", f"/api/v1/constellations/{_p(constellation_id)}/shares")
        )

    @operation("share_list_create", "POST", "/api/v1/constellations/{constellation_id}/shares")
    async def share(self, constellation_id: str, user_id: str, permission: str = "read") -> m.Share:
        """Share with a user: `permission` read or edit."""
        return m.Share.from_dict(
            await self._t.request(
                "POST",
                f"/api/v1/constellations/{_p(constellation_id)}/shares",
                json={"user_id": user_id, "permission": permission},
            )
        )

    @operation(
        "share_detail_update", "PUT", "/api/v1/constellations/{constellation_id}/shares/{user_id}"
    )
    async def update_share(self, constellation_id: str, user_id: str, permission: str) -> m.Share:
        return m.Share.from_dict(
            await self._t.request(
                "PUT",
                f"/api/v1/constellations/{_p(constellation_id)}/shares/{_p(user_id)}",
                json={"permission": permission},
            )
        )

    @operation(
        "share_detail_destroy",
        "DELETE",
        "/api/v1/constellations/{constellation_id}/shares/{user_id}",
    )
    async def unshare(self, constellation_id: str, user_id: str) -> None:
        await self._t.request(
            "DELETE", f"/api/v1/constellations/{_p(constellation_id)}/shares/{_p(user_id)}"
        )

    @operation("localize_create", "POST", "/api/v1/constellations/{constellation_id}/localize")
    async def localize(
        self,
        constellation_id: str,
        *,
        frequency_hz: int | None = None,
        measurements: Sequence[Mapping[str, Any]] | None = None,
        detection_ids: Sequence[str] | None = None,
        method: str | None = None,
        tx_power_dbm: float | None = None,
    ) -> m.Localization:
        """Locate a transmitter from `measurements` ({websdr_station_id, signal_strength_db,
        timestamp?}) or stored `detection_ids` (docs/localization.md)."""
        body = _body(
            frequency_hz=frequency_hz,
            measurements=[dict(x) for x in measurements] if measurements is not None else None,
            detection_ids=list(detection_ids) if detection_ids is not None else None,
            method=method,
            tx_power_dbm=tx_power_dbm,
        )
        return m.Localization.from_dict(
            await self._t.request(
                "POST", f"/api/v1/constellations/{_p(constellation_id)}/localize", json=body
            )
        )


class Localizations(_Group):
    """Stored transmitter fixes (docs/localization.md)."""

    @operation("localization_list_retrieve", "GET", "/api/v1/localizations")
    async def list(
        self,
        *,
        constellation_id: str | None = None,
        frequency_range: Range | None = None,
        time_range: TimeRange | None = None,
        method: str | None = None,
        trigger: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> m.LocalizationList:
        params: dict[str, Any] = {
            "constellation_id": constellation_id,
            "method": method,
            "trigger": trigger,
            "page": page,
            "page_size": page_size,
        }
        if frequency_range is not None:
            params["frequency_min"], params["frequency_max"] = (int(f) for f in frequency_range)
        if time_range is not None:
            params["time_start"], params["time_end"] = (_time(t) for t in time_range)
        return m.LocalizationList.from_dict(
            await self._t.request("GET", "/api/v1/localizations", params=params)
        )

    def iter(self, *, page_size: int = 100, **filters: Any) -> AsyncPager[m.Localization]:
        async def fetch(params: dict) -> m.LocalizationList:
            return await self.list(**filters, **params)

        return AsyncPager(fetch, mode="page", items="data", page_size=page_size)

    @operation("localization_detail_retrieve", "GET", "/api/v1/localizations/{localization_id}")
    async def get(
        self, localization_id: str, *, include_posterior: bool = False
    ) -> m.LocalizationWithPosterior:
        params = {"include": "posterior" if include_posterior else None}
        return m.LocalizationWithPosterior.from_dict(
            await self._t.request(
                "GET", f"/api/v1/localizations/{_p(localization_id)}", params=params
            )
        )


class ReferenceTransmitters(_Group):
    """Known transmitters for station calibration (docs/localization.md)."""

    @operation("reference_transmitter_list_retrieve", "GET", "/api/v1/reference-transmitters")
    async def list(self) -> m.ReferenceTransmitterList:
        return m.ReferenceTransmitterList.from_dict(
            await self._t.request("GET", "/api/v1/reference-transmitters")
        )

    @operation("reference_transmitter_list_create", "POST", "/api/v1/reference-transmitters")
    async def create(self, **fields: Any) -> m.ReferenceTransmitter:
        return m.ReferenceTransmitter.from_dict(
            await self._t.request("POST", "/api/v1/reference-transmitters", json=fields)
        )

    @operation(
        "reference_transmitter_detail_retrieve",
        "GET",
        "/api/v1/reference-transmitters/{reference_id}",
    )
    async def get(self, reference_id: str) -> m.ReferenceTransmitter:
        return m.ReferenceTransmitter.from_dict(
            await self._t.request("GET", f"/api/v1/reference-transmitters/{_p(reference_id)}")
        )

    @operation(
        "reference_transmitter_detail_update",
        "PUT",
        "/api/v1/reference-transmitters/{reference_id}",
    )
    async def update(self, reference_id: str, **fields: Any) -> m.ReferenceTransmitter:
        return m.ReferenceTransmitter.from_dict(
            await self._t.request(
                "PUT", f"/api/v1/reference-transmitters/{_p(reference_id)}", json=fields
            )
        )

    @operation(
        "reference_transmitter_detail_partial_update",
        "PATCH",
        "/api/v1/reference-transmitters/{reference_id}",
    )
    async def patch(self, reference_id: str, **fields: Any) -> m.ReferenceTransmitter:
        return m.ReferenceTransmitter.from_dict(
            await self._t.request(
                "PATCH", f"/api/v1/reference-transmitters/{_p(reference_id)}", json=fields
            )
        )

    @operation(
        "reference_transmitter_detail_destroy",
        "DELETE",
        "/api/v1/reference-transmitters/{reference_id}",
    )
    async def delete(self, reference_id: str) -> None:
        await self._t.request("DELETE", f"/api/v1/reference-transmitters/{_p(reference_id)}")

    @operation("calibrate_create", "POST", "/api/v1/reference-transmitters/calibrate")
    async def calibrate(
        self,
        *,
        apply: bool | None = None,
        since: Time | None = None,
        min_observations: int | None = None,
    ) -> m.CalibrateResponse:
        body = _body(apply=apply, since=_time(since), min_observations=min_observations)
        return m.CalibrateResponse.from_dict(
            await self._t.request("POST", "/api/v1/reference-transmitters/calibrate", json=body)
        )


class Models(_Group):
    """The model registry (docs/ml.md)."""

    @operation("model_list_retrieve", "GET", "/api/v1/models")
    async def list(
        self, *, model_type: str | None = None, status: str | None = None
    ) -> m.ModelList:
        params = {"model_type": model_type, "status": status}
        return m.ModelList.from_dict(await self._t.request("GET", "/api/v1/models", params=params))

    @operation("model_list_create", "POST", "/api/v1/models")
    async def create(self, *, name: str, model_type: str, **fields: Any) -> m.MLModel:
        body = {"name": name, "model_type": model_type, **fields}
        return m.MLModel.from_dict(await self._t.request("POST", "/api/v1/models", json=body))

    @operation("model_detail_retrieve", "GET", "/api/v1/models/{model_id}")
    async def get(self, model_id: str) -> m.MLModel:
        return m.MLModel.from_dict(await self._t.request("GET", f"/api/v1/models/{_p(model_id)}"))

    @operation("model_detail_update", "PUT", "/api/v1/models/{model_id}")
    async def update(self, model_id: str, **fields: Any) -> m.MLModel:
        return m.MLModel.from_dict(
            await self._t.request("PUT", f"/api/v1/models/{_p(model_id)}", json=fields)
        )

    @operation("model_detail_partial_update", "PATCH", "/api/v1/models/{model_id}")
    async def patch(self, model_id: str, **fields: Any) -> m.MLModel:
        return m.MLModel.from_dict(
            await self._t.request("PATCH", f"/api/v1/models/{_p(model_id)}", json=fields)
        )

    @operation("model_detail_destroy", "DELETE", "/api/v1/models/{model_id}")
    async def delete(self, model_id: str) -> None:
        await self._t.request("DELETE", f"/api/v1/models/{_p(model_id)}")

    @operation("model_activate_create", "POST", "/api/v1/models/{model_id}/activate")
    async def activate(self, model_id: str) -> m.MLModel:
        """Admins: make it the served model of its type."""
        return m.MLModel.from_dict(
            await self._t.request("POST", f"/api/v1/models/{_p(model_id)}/activate")
        )

    @operation("model_predict_create", "POST", "/api/v1/models/{model_id}/predict")
    async def predict(self, model_id: str, features: Mapping[str, Any]) -> m.PredictResponse:
        return m.PredictResponse.from_dict(
            await self._t.request(
                "POST", f"/api/v1/models/{_p(model_id)}/predict", json={"features": dict(features)}
            )
        )

    @operation("model_inspect_retrieve", "GET", "/api/v1/models/{model_id}/inspect")
    async def inspect(self, model_id: str) -> m.Inspect:
        return m.Inspect.from_dict(
            await self._t.request("GET", f"/api/v1/models/{_p(model_id)}/inspect")
        )

    @operation("current_inspect_retrieve", "GET", "/api/v1/models/current/inspect")
    async def inspect_current(self, model_type: str) -> m.Inspect:
        """The served model of `model_type`."""
        return m.Inspect.from_dict(
            await self._t.request(
                "GET", "/api/v1/models/current/inspect", params={"model_type": model_type}
            )
        )

    @operation("model_download_retrieve", "GET", "/api/v1/models/{model_id}/download")
    async def download(
        self, model_id: str, *, format: str | None = None, path: str | Path | None = None
    ) -> bytes:
        """The model's artifact (bytes); also written to `path` when given."""
        response = await self._t.request(
            "GET", f"/api/v1/models/{_p(model_id)}/download", params={"format": format}, raw=True
        )
        data = response.content
        if path is not None:
            Path(path).write_bytes(data)
        return data

    @operation("model_recommend_create", "POST", "/api/v1/models/recommend")
    async def recommend(self, **fields: Any) -> m.RecommendResponse:
        return m.RecommendResponse.from_dict(
            await self._t.request("POST", "/api/v1/models/recommend", json=fields)
        )

    @operation("model_train_create", "POST", "/api/v1/models/train")
    async def train(self, model_id: str, **fields: Any) -> m.TrainResponse:
        """Train a registry model (202): `dataset_ids`, `training_config`, `config_name`."""
        body = {"model_id": model_id, **fields}
        return m.TrainResponse.from_dict(
            await self._t.request("POST", "/api/v1/models/train", json=body)
        )

    @operation("training_complete_create", "POST", "/api/v1/models/{model_id}/training/complete")
    async def training_complete(
        self, model_id: str, *, model_artifact_path: str, **fields: Any
    ) -> m.CallbackResponse:
        """External trainers' callback: the model is trained."""
        body = {"model_artifact_path": model_artifact_path, **fields}
        return m.CallbackResponse.from_dict(
            await self._t.request(
                "POST", f"/api/v1/models/{_p(model_id)}/training/complete", json=body
            )
        )

    @operation("training_fail_create", "POST", "/api/v1/models/{model_id}/training/fail")
    async def training_fail(self, model_id: str, *, reason: str) -> m.CallbackResponse:
        """External trainers' callback: training failed."""
        return m.CallbackResponse.from_dict(
            await self._t.request(
                "POST", f"/api/v1/models/{_p(model_id)}/training/fail", json={"reason": reason}
            )
        )


class Training(_Group):
    """Training jobs, configs, runs, datasets (docs/training.md)."""

    def __init__(self, transport: AsyncTransport, watch: Callable[..., Any]) -> None:
        super().__init__(transport)
        self._watch = watch

    @operation("job_list_create", "POST", "/api/v1/training/jobs")
    async def create_job(
        self,
        job_name: str,
        *,
        config: Mapping[str, Any] | None = None,
        config_name: str | None = None,
        auto_activate: bool | None = None,
    ) -> m.Job:
        body = _body(
            job_name=job_name,
            config=dict(config) if config is not None else None,
            config_name=config_name,
            auto_activate=auto_activate,
        )
        return m.Job.from_dict(await self._t.request("POST", "/api/v1/training/jobs", json=body))

    @operation("job_list_retrieve", "GET", "/api/v1/training/jobs")
    async def list_jobs(
        self, *, status: str | None = None, limit: int | None = None, offset: int | None = None
    ) -> m.TrainingJobList:
        params = {"status": status, "limit": limit, "offset": offset}
        return m.TrainingJobList.from_dict(
            await self._t.request("GET", "/api/v1/training/jobs", params=params)
        )

    def iter_jobs(self, *, status: str | None = None, page_size: int = 50) -> AsyncPager[m.Job]:
        async def fetch(params: dict) -> m.TrainingJobList:
            return await self.list_jobs(status=status, **params)

        return AsyncPager(
            fetch,
            mode="offset",
            items="jobs",
            page_size=page_size,
            offset_names=("offset", "limit"),
        )

    @operation("job_detail_retrieve", "GET", "/api/v1/training/jobs/{job_id}")
    async def get_job(self, job_id: str) -> m.JobDetailResponse:
        return m.JobDetailResponse.from_dict(
            await self._t.request("GET", f"/api/v1/training/jobs/{_p(job_id)}")
        )

    @operation("job_cancel_create", "POST", "/api/v1/training/jobs/{job_id}/cancel")
    async def cancel_job(self, job_id: str) -> m.Job:
        return m.Job.from_dict(
            await self._t.request("POST", f"/api/v1/training/jobs/{_p(job_id)}/cancel")
        )

    @operation("job_detail_destroy", "DELETE", "/api/v1/training/jobs/{job_id}")
    async def delete_job(self, job_id: str) -> None:
        await self._t.request("DELETE", f"/api/v1/training/jobs/{_p(job_id)}")

    @operation("job_metrics_retrieve", "GET", "/api/v1/training/jobs/{job_id}/metrics")
    async def job_metrics(self, job_id: str, *, limit: int | None = None) -> m.JobMetricsResponse:
        return m.JobMetricsResponse.from_dict(
            await self._t.request(
                "GET", f"/api/v1/training/jobs/{_p(job_id)}/metrics", params={"limit": limit}
            )
        )

    def watch_job(self, job_id: str | None = None, **options: Any) -> Any:
        """A TrainingSocket on /ws/training/{job_id} (every job when None); see websocket.py."""
        return self._watch(job_id, **options)

    @operation("latest_metrics_retrieve", "GET", "/api/v1/training/metrics/latest")
    async def latest_metrics(self) -> m.LatestMetricsResponse:
        return m.LatestMetricsResponse.from_dict(
            await self._t.request("GET", "/api/v1/training/metrics/latest")
        )

    @operation("status_retrieve", "GET", "/api/v1/training/status")
    async def status(self) -> m.Status:
        return m.Status.from_dict(await self._t.request("GET", "/api/v1/training/status"))

    @operation("data_check_retrieve", "GET", "/api/v1/training/data-check")
    async def data_check(
        self,
        *,
        dataset_id: str | None = None,
        config_name: str | None = None,
        model_architecture: str | None = None,
        min_snr_db: float | None = None,
    ) -> m.DataCheck:
        params = {
            "dataset_id": dataset_id,
            "config_name": config_name,
            "model_architecture": model_architecture,
            "min_snr_db": min_snr_db,
        }
        return m.DataCheck.from_dict(
            await self._t.request("GET", "/api/v1/training/data-check", params=params)
        )

    @operation("preset_list_retrieve", "GET", "/api/v1/training/configs")
    async def list_configs(self) -> m.PresetListResponse:
        """Every named configuration (`configs`), their names and count."""
        return m.PresetListResponse.from_dict(
            await self._t.request("GET", "/api/v1/training/configs")
        )

    @operation("preset_list_create", "POST", "/api/v1/training/configs")
    async def create_config(
        self,
        name: str,
        *,
        config: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> m.Preset:
        body = _body(
            name=name,
            config=dict(config) if config is not None else None,
            description=description,
        )
        return m.Preset.from_dict(
            await self._t.request("POST", "/api/v1/training/configs", json=body)
        )

    @operation("preset_detail_retrieve", "GET", "/api/v1/training/configs/{name}")
    async def get_config(self, name: str) -> m.Preset:
        return m.Preset.from_dict(
            await self._t.request("GET", f"/api/v1/training/configs/{_p(name)}")
        )

    @operation("preset_detail_update", "PUT", "/api/v1/training/configs/{name}")
    async def update_config(
        self,
        name: str,
        *,
        config: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> m.Preset:
        body = _body(config=dict(config) if config is not None else None, description=description)
        return m.Preset.from_dict(
            await self._t.request("PUT", f"/api/v1/training/configs/{_p(name)}", json=body)
        )

    @operation("preset_detail_destroy", "DELETE", "/api/v1/training/configs/{name}")
    async def delete_config(self, name: str) -> None:
        await self._t.request("DELETE", f"/api/v1/training/configs/{_p(name)}")

    @operation("run_list_retrieve", "GET", "/api/v1/training/runs")
    async def list_runs(
        self, *, status: str | None = None, limit: int | None = None, offset: int | None = None
    ) -> m.TrainingRunList:
        params = {"status": status, "limit": limit, "offset": offset}
        return m.TrainingRunList.from_dict(
            await self._t.request("GET", "/api/v1/training/runs", params=params)
        )

    @operation("run_metrics_retrieve", "GET", "/api/v1/training/runs/{job_id}")
    async def run_metrics(self, job_id: str, *, limit: int | None = None) -> m.RunMetricsResponse:
        return m.RunMetricsResponse.from_dict(
            await self._t.request(
                "GET", f"/api/v1/training/runs/{_p(job_id)}", params={"limit": limit}
            )
        )

    @operation("run_summary_retrieve", "GET", "/api/v1/training/runs/{job_id}/summary")
    async def run_summary(self, job_id: str) -> m.RunSummary:
        return m.RunSummary.from_dict(
            await self._t.request("GET", f"/api/v1/training/runs/{_p(job_id)}/summary")
        )

    @operation("generate_create", "POST", "/api/v1/training/synthetic/generate")
    async def generate_dataset(self, name: str, **fields: Any) -> m.Dataset:
        """Start generating a synthetic dataset (202; `status` pending → ready)."""
        return m.Dataset.from_dict(
            await self._t.request(
                "POST", "/api/v1/training/synthetic/generate", json={"name": name, **fields}
            )
        )

    @operation("dataset_list_retrieve", "GET", "/api/v1/training/synthetic/datasets")
    async def list_datasets(
        self,
        *,
        dataset_type: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> m.DatasetList:
        params = {"dataset_type": dataset_type, "status": status, "limit": limit, "offset": offset}
        return m.DatasetList.from_dict(
            await self._t.request("GET", "/api/v1/training/synthetic/datasets", params=params)
        )

    @operation("dataset_detail_retrieve", "GET", "/api/v1/training/synthetic/datasets/{dataset_id}")
    async def get_dataset(self, dataset_id: str) -> m.Dataset:
        return m.Dataset.from_dict(
            await self._t.request("GET", f"/api/v1/training/synthetic/datasets/{_p(dataset_id)}")
        )

    @operation(
        "dataset_detail_destroy", "DELETE", "/api/v1/training/synthetic/datasets/{dataset_id}"
    )
    async def delete_dataset(self, dataset_id: str) -> None:
        await self._t.request("DELETE", f"/api/v1/training/synthetic/datasets/{_p(dataset_id)}")


# --- recordings (SigMF: docs/recordings.md) ----------------------------------------------

FileSource = str | Path | BinaryIO
_PART_TYPES = {
    "meta": ("recording.sigmf-meta", "application/json"),
    "data": ("recording.sigmf-data", "application/octet-stream"),
    "archive": ("recording.sigmf", "application/x-tar"),
}
ANALYSIS_DONE = frozenset({"completed", "failed"})
DOWNLOAD_CHUNK = 1 << 20


def _sigmf_parts(
    path: str | Path | None,
    meta: FileSource | None,
    data: FileSource | None,
    archive: FileSource | None,
) -> dict[str, FileSource]:
    """Which files an upload sends: `path` (a .sigmf-meta with its .sigmf-data beside it,
    a .sigmf-data with its .sigmf-meta, or a .sigmf archive) or the parts given."""
    if path is not None:
        path = Path(path)
        if path.name.endswith(".sigmf"):
            archive = path
        elif path.name.endswith(".sigmf-meta"):
            meta, data = path, data if data is not None else path.with_suffix(".sigmf-data")
        elif path.name.endswith(".sigmf-data"):
            data, meta = path, meta if meta is not None else path.with_suffix(".sigmf-meta")
        else:
            raise ValueError(f"{path}: give a .sigmf-meta, .sigmf-data or .sigmf file")
    if archive is not None and (meta is not None or data is not None):
        raise ValueError("give a .sigmf archive, or a .sigmf-meta and its .sigmf-data: not both")
    parts = {"archive": archive} if archive is not None else {"meta": meta, "data": data}
    for name, source in parts.items():
        if source is None:
            raise ValueError(f"no {name} file: give a .sigmf-meta and its .sigmf-data, or a .sigmf")
        if isinstance(source, str | Path) and not Path(source).is_file():
            raise FileNotFoundError(f"{source}: no such file ({name})")
    return {k: v for k, v in parts.items() if v is not None}


def _multipart(parts: Mapping[str, FileSource]) -> Callable[[], Any]:
    """A factory of httpx `files` for each attempt: paths are opened (and closed after),
    file objects rewound. httpx reads them in chunks as it sends: nothing is read whole."""

    @contextlib.contextmanager
    def opened() -> Iterator[dict[str, Any]]:
        with contextlib.ExitStack() as stack:
            files: dict[str, Any] = {}
            for name, source in parts.items():
                default_name, content_type = _PART_TYPES[name]
                if isinstance(source, str | Path):
                    handle: BinaryIO = stack.enter_context(Path(source).open("rb"))
                    filename = Path(source).name
                else:
                    handle = source
                    if handle.seekable():
                        handle.seek(0)
                    filename = Path(str(getattr(source, "name", "") or default_name)).name
                files[name] = (filename, handle, content_type)
            yield files

    return opened


def _attachment_name(response: Any) -> str | None:
    """The file name of a `Content-Disposition: attachment; filename="..."` header."""
    found = re.search(r'filename="?([^";]+)"?', response.headers.get("content-disposition", ""))
    return Path(found.group(1)).name if found else None


class Recordings(_Group):
    """SigMF recordings: upload, list, download, analyze, annotations (docs/recordings.md).

    Viewers read; operators and admins upload, analyze, label, approve and delete.
    """

    @operation("recording_list_create", "POST", "/api/v1/recordings")
    async def upload(
        self,
        path: str | Path | None = None,
        *,
        meta: FileSource | None = None,
        data: FileSource | None = None,
        archive: FileSource | None = None,
        station_id: str | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> m.Recording:
        """Upload a recording (201): `path` is a `.sigmf-meta` (its `.sigmf-data` beside
        it), a `.sigmf-data` (its `.sigmf-meta` beside it) or a `.sigmf` archive; or
        give `meta` + `data`, or `archive`, as paths or binary file objects.

        The files are streamed from disk in chunks (a 2 GB recording is never in
        memory). `station_id` binds it to a station (else the server takes the
        metadata's `heimdall:websdr_station_id` or `core:hw`). A file that fails
        validation is a ValidationError whose `field` names the SigMF field
        (e.g. `captures[0].core:frequency`, `global.core:sha512`); nothing is stored.
        """
        parts = _sigmf_parts(path, meta, data, archive)
        form = _body(websdr_station_id=station_id, name=name, description=description)
        return m.Recording.from_dict(
            await self._t.request("POST", "/api/v1/recordings", data=form, files=_multipart(parts))
        )

    @operation("recording_list_retrieve", "GET", "/api/v1/recordings")
    async def list(
        self,
        *,
        station_id: str | None = None,
        time_range: TimeRange | None = None,
        frequency: int | None = None,
        frequency_range: Range | None = None,
        analysis_status: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> m.RecordingList:
        """One page of recordings, newest first.

        `time_range`: recordings overlapping it; `frequency` (Hz): recordings whose
        span covers it; `frequency_range` (Hz): spans overlapping it;
        `analysis_status`: not_analyzed, pending, running, completed, failed.
        """
        params: dict[str, Any] = {
            "station": station_id,
            "frequency": frequency,
            "analysis_status": analysis_status,
            "page": page,
            "page_size": page_size,
        }
        if time_range is not None:
            params["start_time"], params["end_time"] = (_time(t) for t in time_range)
        if frequency_range is not None:
            params["frequency_min"], params["frequency_max"] = (int(f) for f in frequency_range)
        return m.RecordingList.from_dict(
            await self._t.request("GET", "/api/v1/recordings", params=params)
        )

    def iter(
        self, *, page_size: int = 50, limit: int | None = None, **filters: Any
    ) -> AsyncPager[m.Recording]:
        """Every matching recording (the filters of `list`), fetched page by page."""

        async def fetch(params: dict) -> m.RecordingList:
            return await self.list(**filters, **params)

        return AsyncPager(fetch, mode="page", items="data", page_size=page_size, limit=limit)

    @operation("recording_detail_retrieve", "GET", "/api/v1/recordings/{recording_id}")
    async def get(self, recording_id: str) -> m.Recording:
        return m.Recording.from_dict(
            await self._t.request("GET", f"/api/v1/recordings/{_p(recording_id)}")
        )

    @operation("recording_detail_destroy", "DELETE", "/api/v1/recordings/{recording_id}")
    async def delete(self, recording_id: str) -> None:
        """Delete the recording, its clips and files (ConflictError while it is analyzed);
        the detections it produced stay."""
        await self._t.request("DELETE", f"/api/v1/recordings/{_p(recording_id)}")

    @operation("recording_download_retrieve", "GET", "/api/v1/recordings/{recording_id}/download")
    async def download(
        self, recording_id: str, path: str | Path, *, part: str | None = None
    ) -> Path:
        """Stream the recording to `path` (a file, or a folder: the server's file name in
        it); returns the file written. `part`: `archive` (default, a `.sigmf` tar whose
        metadata carries the clips as annotations), `meta` or `data`.

        The body is written in 1 MiB chunks to `<file>.part`, renamed when complete:
        a failed download leaves no partial file under the final name.
        """
        target = Path(path)
        written: list[Path] = []

        async def sink(response: Any) -> None:
            dest = target
            if target.is_dir():
                dest = target / (_attachment_name(response) or f"{recording_id}.sigmf")
            partial = dest.with_name(dest.name + ".part")
            with partial.open("wb") as out:
                async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK):
                    out.write(chunk)
            partial.replace(dest)
            written.append(dest)

        await self._t.request(
            "GET",
            f"/api/v1/recordings/{_p(recording_id)}/download",
            params={"part": part},
            sink=sink,
        )
        return written[-1]

    @operation("recording_analyze_create", "POST", "/api/v1/recordings/{recording_id}/analyze")
    async def analyze(
        self,
        recording_id: str,
        *,
        window_seconds: float | None = None,
        fft_size: int | None = None,
    ) -> m.Recording:
        """Start analyzing the whole recording in the background (202): its carriers become
        detections. `window_seconds` 0.001–10 (default 0.25), `fft_size` a power of two
        64–65536 (default 4096). The same analysis again stores nothing twice. Follow it
        with `wait_for_analysis`."""
        body = _body(window_seconds=window_seconds, fft_size=fft_size)
        return m.Recording.from_dict(
            await self._t.request(
                "POST", f"/api/v1/recordings/{_p(recording_id)}/analyze", json=body
            )
        )

    async def wait_for_analysis(
        self,
        recording_id: str,
        *,
        timeout: float = 600.0,
        poll_interval: float = 1.0,
        on_progress: Callable[[m.Recording], None] | None = None,
    ) -> m.Recording:
        """Poll the recording until its analysis ends; the recording, `completed`, with its
        `analysis` summary. `on_progress(recording)` after each poll (see
        `analysis_progress_percent`). Raises AnalysisFailedError when it failed,
        TimeoutError after `timeout` seconds, HeimdallError if no analysis was started."""
        deadline = time.monotonic() + timeout
        while True:
            recording = await self.get(recording_id)
            if on_progress is not None:
                on_progress(recording)
            if recording.analysis_status == "completed":
                return recording
            if recording.analysis_status == "failed":
                raise AnalysisFailedError(recording)
            if recording.analysis_status == "not_analyzed":
                raise HeimdallError(f"recording {recording_id} is not being analyzed")
            if time.monotonic() + poll_interval > deadline:
                raise TimeoutError(
                    f"analysis of recording {recording_id} still {recording.analysis_status} "
                    f"({recording.analysis_progress_percent}%) after {timeout:g} s"
                )
            await asyncio.sleep(poll_interval)

    # --- annotations (clips) ---------------------------------------------------------

    @operation("clip_list_retrieve", "GET", "/api/v1/recordings/{recording_id}/annotations")
    async def list_annotations(
        self,
        recording_id: str,
        *,
        approved: bool | None = None,
        label: str | None = None,
        page: int | None = None,
        page_size: int | None = None,
    ) -> m.RecordingClipList:
        """One page of the recording's clips (SigMF annotations)."""
        params = {"approved": approved, "label": label, "page": page, "page_size": page_size}
        return m.RecordingClipList.from_dict(
            await self._t.request(
                "GET", f"/api/v1/recordings/{_p(recording_id)}/annotations", params=params
            )
        )

    def iter_annotations(
        self,
        recording_id: str,
        *,
        approved: bool | None = None,
        label: str | None = None,
        page_size: int = 100,
        limit: int | None = None,
    ) -> AsyncPager[m.RecordingClip]:
        """Every matching clip of the recording, fetched page by page."""

        async def fetch(params: dict) -> m.RecordingClipList:
            return await self.list_annotations(
                recording_id, approved=approved, label=label, **params
            )

        return AsyncPager(fetch, mode="page", items="data", page_size=page_size, limit=limit)

    @operation("clip_list_create", "POST", "/api/v1/recordings/{recording_id}/annotations")
    async def create_annotation(
        self,
        recording_id: str,
        *,
        sample_start: int,
        sample_count: int,
        label: str,
        freq_lower_edge: int | None = None,
        freq_upper_edge: int | None = None,
        comment: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        approved: bool | None = None,
    ) -> m.RecordingClip:
        """Add a clip (201): samples `sample_start`..+`sample_count`, edges in Hz
        (absolute, both or neither), a `label`; its `snr_db` is measured by the server."""
        body = _body(
            sample_start=sample_start,
            sample_count=sample_count,
            label=label,
            freq_lower_edge=freq_lower_edge,
            freq_upper_edge=freq_upper_edge,
            comment=comment,
            metadata=dict(metadata) if metadata is not None else None,
            approved=approved,
        )
        return m.RecordingClip.from_dict(
            await self._t.request(
                "POST", f"/api/v1/recordings/{_p(recording_id)}/annotations", json=body
            )
        )

    @operation(
        "clip_detail_retrieve", "GET", "/api/v1/recordings/{recording_id}/annotations/{clip_id}"
    )
    async def get_annotation(self, recording_id: str, clip_id: str) -> m.RecordingClip:
        return m.RecordingClip.from_dict(
            await self._t.request(
                "GET", f"/api/v1/recordings/{_p(recording_id)}/annotations/{_p(clip_id)}"
            )
        )

    @operation(
        "clip_detail_partial_update",
        "PATCH",
        "/api/v1/recordings/{recording_id}/annotations/{clip_id}",
    )
    async def update_annotation(
        self, recording_id: str, clip_id: str, **changes: Any
    ) -> m.RecordingClip:
        """An RFC 7396 merge patch, sent as given (None is JSON null): `label`, `comment`,
        edges, `sample_start`/`sample_count`, `approved`; `metadata` merges key by key
        (a None value removes the key). Relabelling an approved clip withdraws the
        approval unless `approved=True` is sent with it."""
        return m.RecordingClip.from_dict(
            await self._t.request(
                "PATCH",
                f"/api/v1/recordings/{_p(recording_id)}/annotations/{_p(clip_id)}",
                json=changes,
            )
        )

    async def approve_annotation(
        self, recording_id: str, clip_id: str, *, label: str | None = None
    ) -> m.RecordingClip:
        """Approve a clip for training (optionally relabelling it in the same patch); the
        server records who approved it and when."""
        return await self.update_annotation(
            recording_id, clip_id, approved=True, **_body(label=label)
        )

    @operation(
        "clip_detail_destroy", "DELETE", "/api/v1/recordings/{recording_id}/annotations/{clip_id}"
    )
    async def delete_annotation(self, recording_id: str, clip_id: str) -> None:
        await self._t.request(
            "DELETE", f"/api/v1/recordings/{_p(recording_id)}/annotations/{_p(clip_id)}"
        )
