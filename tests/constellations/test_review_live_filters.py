"""The `localizations` channel's filters on /ws/signals/live, as a WebSocket client sends them.

Found: subscribing to `localizations` alone with a built-in channel's filter
(`station_ids`, `anomaly_threshold`, `severity`) was acknowledged, the filter echoed
back as if applied, and every localization still delivered: the filter did nothing.
And the `subscribed` reply did not echo the channel's own `constellation_ids`."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import RefreshToken

from heimdall.asgi import application
from tests.constellations import factories
from tests.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


async def connect(user):
    token = await database_sync_to_async(lambda: str(RefreshToken.for_user(user).access_token))()
    communicator = WebsocketCommunicator(application, f"/ws/signals/live?token={token}")
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def ask(ws, channels, filters):
    await ws.send_to(json.dumps({"type": "subscribe", "channels": channels, "filters": filters}))
    return json.loads(await ws.receive_from(timeout=10))


@pytest.mark.asyncio
async def test_a_filter_no_subscribed_channel_reads_is_refused():
    def setup():
        owner = make_user("olga", "operator")
        factories.italian_stations()
        return owner, factories.constellation_of(owner, ["torino-it", "milano-it", "genova-it"])

    owner, constellation = await database_sync_to_async(setup)()
    ws = await connect(owner)
    for key, value in [("station_ids", ["torino-it"]), ("stations", ["torino-it"]),
                       ("anomaly_threshold", 0.5), ("severity", ["high"])]:  # fmt: skip
        reply = await ask(ws, ["localizations"], {key: value})
        assert reply["type"] == "error", reply
        assert reply["error"]["code"] == "VALIDATION_ERROR"
        assert reply["error"]["details"]["field"] == f"filters.{key}"
        assert "not a filter of localizations" in reply["error"]["details"]["constraint"]
    # With a built-in channel beside it, station_ids is that channel's filter: accepted.
    reply = await ask(ws, ["localizations", "signal_detections"],
                      {"station_ids": ["torino-it"],
                       "constellation_ids": [str(constellation.pk)]})  # fmt: skip
    assert reply["type"] == "subscribed", reply
    assert reply["filters"]["station_ids"] == ["torino-it"]
    # The channel's own filters are echoed back.
    reply = await ask(
        ws,
        ["localizations"],
        {
            "constellation_ids": [str(constellation.pk).upper()],
            "frequency_range": [144_000_000, 146_000_000],
        },
    )
    assert reply["type"] == "subscribed", reply
    assert reply["filters"]["constellation_ids"] == [str(constellation.pk)]
    assert reply["filters"]["frequency_range"] == [144_000_000, 146_000_000]
    await ws.disconnect()
