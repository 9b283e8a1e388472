"""The id of the request being served, readable from anywhere in its context."""

import re
import uuid
from contextvars import ContextVar

_current: ContextVar[str | None] = ContextVar("heimdall_request_id", default=None)

# An echoed id is put into headers and logs: accept only short, plain tokens.
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_request_id(proposed: str | None = None) -> str:
    if proposed and _ACCEPTABLE.match(proposed):
        return proposed
    return str(uuid.uuid4())


def set_request_id(value: str | None):
    return _current.set(value)


def reset_request_id(token) -> None:
    _current.reset(token)


def get_request_id() -> str:
    """The current request's id; a fresh one outside any request (tasks, consumers)."""
    return _current.get() or str(uuid.uuid4())
