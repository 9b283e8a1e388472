"""Fixtures for the SDK suite: a LIVE Heimdall started by .ci/live_server.py.

Run from the repository root: `make sdk-python`, or
`python .ci/live_server.py --env ... -- python -m pytest sdk/python/tests`.
The server's variables (HEIMDALL_URL, HEIMDALL_API_KEY_<ROLE>, usernames,
password, its database URL) come from live_server.py; without them the
suite is skipped, saying why.
"""

import os

import psycopg
import pytest
from heimdall_sdk import HeimdallClient

URL = os.environ.get("HEIMDALL_URL")


def pytest_collection_modifyitems(config, items):
    if URL:
        return
    skip = pytest.mark.skip(
        reason="no live Heimdall: run under .ci/live_server.py (make sdk-python)"
    )
    for item in items:
        if "live" in item.keywords or item.module.__name__.split(".")[-1] != "test_coverage":
            item.add_marker(skip)


@pytest.fixture
def url() -> str:
    return URL


def key(role: str = "admin") -> str:
    return os.environ[f"HEIMDALL_API_KEY_{role.upper()}"]


def username(role: str) -> str:
    return os.environ[f"HEIMDALL_USERNAME_{role.upper()}"]


@pytest.fixture
async def client():
    async with HeimdallClient(URL, api_key=key("admin")) as c:
        yield c


@pytest.fixture
async def operator():
    async with HeimdallClient(URL, api_key=key("operator")) as c:
        yield c


@pytest.fixture
async def viewer():
    async with HeimdallClient(URL, api_key=key("viewer")) as c:
        yield c


@pytest.fixture
def db():
    """The live server's database, to check what was (not) written."""
    with psycopg.connect(os.environ["HEIMDALL_LIVE_DATABASE_URL"], autocommit=True) as conn:
        yield conn
