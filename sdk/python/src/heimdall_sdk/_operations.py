"""The map operationId → SDK method, kept by the `operation` decorator.

Each public method that calls one API operation is decorated with the
operation's id, HTTP method and path as the OpenAPI schema names them. The
coverage test (sdk/python/tests/test_coverage.py) compares this registry
with the schema both ways: an operation without a method fails, and so does
a method whose operation the schema no longer has.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

F = TypeVar("F", bound=Callable)


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    sdk_method: str  # "group.method" on HeimdallClient


OPERATIONS: dict[str, Operation] = {}


def operation(operation_id: str, method: str, path: str) -> Callable[[F], F]:
    def mark(func: F) -> F:
        group = func.__qualname__.split(".")[0]
        OPERATIONS[operation_id] = Operation(
            operation_id, method.upper(), path, f"{GROUP_ATTRIBUTES[group]}.{func.__name__}"
        )
        func.__heimdall_operation__ = operation_id  # type: ignore[attr-defined]
        return func

    return mark


# Resource class → attribute of HeimdallClient.
GROUP_ATTRIBUTES = {
    "Auth": "auth",
    "Users": "users",
    "Health": "health",
    "Stations": "stations",
    "Signals": "signals",
    "Anomalies": "anomalies",
    "Statistics": "statistics",
    "Constellations": "constellations",
    "Localizations": "localizations",
    "ReferenceTransmitters": "reference_transmitters",
    "Recordings": "recordings",
    "Models": "models",
    "Training": "training",
}
