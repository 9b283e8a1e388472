"""heimdall_sdk: the Python SDK of Heimdall (docs/sdk.md).

`HeimdallClient` (async, seed 004's calls), `Client` (the same, synchronous),
typed results in `heimdall_sdk.models`, exceptions in `heimdall_sdk.errors`,
and the `heimdall` command line (heimdall_sdk.cli).
"""

__version__ = "0.1.0"

from heimdall_sdk.client import HeimdallClient
from heimdall_sdk.errors import (
    AnalysisFailedError,
    APIError,
    AuthenticationError,
    ConflictError,
    HeimdallError,
    InvalidTokenError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
    WebSocketClosedError,
)
from heimdall_sdk.sync import Client
from heimdall_sdk.websocket import Gap, LiveMessage

__all__ = [
    "APIError",
    "AnalysisFailedError",
    "AuthenticationError",
    "Client",
    "ConflictError",
    "Gap",
    "HeimdallClient",
    "HeimdallError",
    "InvalidTokenError",
    "LiveMessage",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServerError",
    "TransportError",
    "ValidationError",
    "WebSocketClosedError",
    "__version__",
]
