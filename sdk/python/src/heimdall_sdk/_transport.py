"""HTTP transport: credentials, token refresh, retries, error mapping.

Credentials are an API key (sent as `Authorization: Bearer hmd_...`) or a
username and password: the transport logs in on first use
(`POST /api/v1/auth/login`), refreshes the access token shortly before it
expires (`POST /api/v1/auth/refresh`; refresh tokens rotate, so a spent one
means logging in again), and on a 401 INVALID_TOKEN refreshes once and
repeats the request (docs/api.md, "Authentication").

Retries (docs/api.md, "Rate limits" and "Errors"):

- 429 RATE_LIMITED and 503 SERVICE_UNAVAILABLE: the server refused before
  doing anything ("nothing is written when a request fails"), so any method
  is retried, after `Retry-After` seconds (capped by `max_retry_wait`);
- a failed connection attempt (nothing was sent): any method;
- a connection lost after sending (read error, reset, timeout): idempotent
  calls only — GET, PUT, DELETE, and calls the SDK marks idempotent (ingest
  with client-chosen detection ids);
- otherwise exponential backoff with jitter: `backoff * 2**attempt`, at most
  `max_retries` times. Each retry is reported to `on_retry(reason, wait_s)`
  and counted in `retry_log`.
"""

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx

from heimdall_sdk import __version__
from heimdall_sdk.errors import (
    APIError,
    HeimdallError,
    InvalidTokenError,
    TransportError,
    error_from_response,
)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
LOGIN_PATH = "/api/v1/auth/login"
REFRESH_PATH = "/api/v1/auth/refresh"


class AsyncTransport:
    """One httpx.AsyncClient with Heimdall's credentials and retry policy."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_retry_wait: float = 60.0,
        on_retry: Callable[[str, float], None] | None = None,
        verify: bool | str = True,
    ) -> None:
        if api_key and (username or password):
            raise ValueError("give either api_key or username and password, not both")
        if bool(username) != bool(password):
            raise ValueError("username and password go together")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.username = username
        self.password = password
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_retry_wait = max_retry_wait
        self.on_retry = on_retry
        self.retry_log: list[tuple[str, float]] = []
        self.refresh_count = 0
        self.login_count = 0
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires_at = 0.0  # time.monotonic() when the access token expires
        self._lock = asyncio.Lock()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            verify=verify,
            headers={"User-Agent": f"heimdall-sdk-python/{__version__}"},
        )

    # --- credentials -------------------------------------------------------------

    @property
    def uses_tokens(self) -> bool:
        return self.api_key is None

    def set_tokens(self, body: dict[str, Any]) -> None:
        """Keep a login or refresh answer: access, refresh token, expiry."""
        self._access = body["access_token"]
        self._refresh = body.get("refresh_token") or self._refresh
        lifetime = float(body.get("expires_in") or 3600)
        self._expires_at = time.monotonic() + lifetime
        self._lifetime = lifetime

    def _refresh_margin(self) -> float:
        return min(30.0, getattr(self, "_lifetime", 3600.0) / 4)

    async def login(self, username: str | None = None, password: str | None = None) -> dict:
        """Log in with the password; keeps the tokens for later calls."""
        if username is not None:
            self.username, self.password, self.api_key = username, password, None
        if not self.username or not self.password:
            raise HeimdallError("no username and password to log in with")
        body = await self._send_json(
            "POST", LOGIN_PATH, {"username": self.username, "password": self.password}
        )
        self.set_tokens(body)
        self.login_count += 1
        return body

    async def refresh(self) -> dict:
        """Trade the refresh token for a new pair (logging in again if it is spent)."""
        if not self._refresh:
            return await self.login()
        try:
            body = await self._send_json("POST", REFRESH_PATH, {"refresh_token": self._refresh})
        except InvalidTokenError:
            if self.password:
                return await self.login()
            raise
        self.set_tokens(body)
        self.refresh_count += 1
        return body

    async def credential(self, *, fresh_for: float = 0.0) -> str:
        """The API key, or an access token valid for at least `fresh_for` more seconds."""
        if self.api_key:
            return self.api_key
        async with self._lock:
            margin = max(self._refresh_margin(), fresh_for)
            if self._access is None:
                await self.login()
            elif time.monotonic() > self._expires_at - margin:
                await self.refresh()
        assert self._access is not None
        return self._access

    def token_expires_in(self) -> float | None:
        """Seconds the current access token has left (None with an API key)."""
        if self.api_key:
            return None
        return self._expires_at - time.monotonic()

    # --- requests ------------------------------------------------------------------

    async def _send_json(self, method: str, path: str, body: dict) -> dict:
        """An unauthenticated JSON call (login, refresh) with the retry policy."""
        response = await self._send(method, path, json=body, headers={}, idempotent=False)
        return response.json()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, Any] | None = None,
        files: Callable[[], AbstractContextManager[dict[str, Any]]] | None = None,
        sink: Callable[[httpx.Response], Awaitable[None]] | None = None,
        idempotent: bool | None = None,
        raw: bool = False,
    ) -> Any:
        """Send a call with credentials; the decoded JSON (None for 204), or the response if raw.

        `data` + `files` send a multipart form: `files()` is called for each
        attempt and returns a context manager giving httpx's files mapping
        (name → (filename, file object, content type)), open for the attempt;
        httpx streams the file objects in chunks, never reading them whole.
        `sink(response)`, for a success, consumes the body as a stream
        (downloads) before the response closes.

        Raises an APIError subclass for error answers, TransportError when the
        server cannot be reached after the retries.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        params = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {await self.credential()}"}
            try:
                response = await self._send(
                    method, path, params=params, json=json, data=data, files=files, sink=sink,
                    headers=headers, idempotent=idempotent,
                )  # fmt: skip
            except InvalidTokenError:
                if attempt or not self.uses_tokens:
                    raise
                async with self._lock:
                    await self.refresh()
                continue
            if raw:
                return response
            if sink is not None:
                return None
            if response.status_code == 204 or not response.content:
                return None
            return response.json()
        raise AssertionError("unreachable")

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, Any] | None = None,
        files: Callable[[], AbstractContextManager[dict[str, Any]]] | None = None,
        sink: Callable[[httpx.Response], Awaitable[None]] | None = None,
        headers: dict[str, str],
        idempotent: bool,
    ) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._attempt(
                    method, path, params=params, json=json, data=data, files=files, sink=sink,
                    headers=headers,
                )  # fmt: skip
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                if (never_sent or idempotent) and attempt < self.max_retries:
                    await self._wait(f"connection: {type(exc).__name__}", attempt, None)
                    attempt += 1
                    continue
                raise TransportError(f"{method} {path}: {exc!r}") from exc
            if response.status_code < 400:
                return response
            try:
                body = response.json()
            except ValueError:
                body = response.text
            error = error_from_response(response.status_code, body, dict(response.headers))
            if response.status_code in (429, 503) and attempt < self.max_retries:
                await self._wait(f"{response.status_code} {error.code}", attempt, error)
                attempt += 1
                continue
            raise error

    async def _attempt(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None,
        json: Any,
        data: dict[str, Any] | None,
        files: Callable[[], AbstractContextManager[dict[str, Any]]] | None,
        sink: Callable[[httpx.Response], Awaitable[None]] | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        """One request; the body read (or, for a success with a sink, streamed into it)."""
        with files() if files is not None else contextlib.nullcontext() as opened:
            request = self._http.build_request(
                method, path, params=params, json=json, data=data, files=opened, headers=headers
            )
            response = await self._http.send(request, stream=True)
            try:
                if sink is not None and response.status_code < 400:
                    await sink(response)
                else:
                    await response.aread()
            finally:
                await response.aclose()
            return response

    async def _wait(self, reason: str, attempt: int, error: APIError | None) -> None:
        if error is not None and error.retry_after is not None:
            wait = min(error.retry_after, self.max_retry_wait) + random.uniform(0, 0.25)  # noqa: S311
        else:
            wait = min(self.backoff * 2**attempt, self.max_retry_wait)
            wait *= random.uniform(0.5, 1.0)  # noqa: S311
        self.retry_log.append((reason, wait))
        if self.on_retry:
            self.on_retry(reason, wait)
        await asyncio.sleep(wait)

    def websocket_url(self, path: str) -> str:
        """ws:// or wss:// URL of a socket path on this server."""
        if self.base_url.startswith("https://"):
            return "wss://" + self.base_url[len("https://") :] + path
        return "ws://" + self.base_url.removeprefix("http://") + path

    async def aclose(self) -> None:
        await self._http.aclose()


def _param(value: Any) -> Any:
    """Query values as the API spells them: booleans lower-case, lists comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return value
