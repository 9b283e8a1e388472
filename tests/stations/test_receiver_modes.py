"""A mode Heimdall cannot receive from the station's receiver is a 400 naming api_config.mode."""

import pytest

from apps.stations.models import Station, StationCheck
from tests.helpers import assert_envelope
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db

STATION = {
    "id": "owrx-fm",
    "name": "OpenWebRX FM",
    "url": "https://owrx.example.org/",
    "latitude": 45.0,
    "longitude": 7.3,
    "frequency_min": 87_500_000,
    "frequency_max": 108_000_000,
}


@pytest.mark.parametrize(
    ("api_type", "mode"),
    [("openwebrx", "wfm"), ("openwebrx", "sam"), ("kiwisdr", "iq"), ("kiwisdr", "nbfm"),
     ("http_streaming", "fm"), ("http_streaming", "cw")],
)  # fmt: skip
def test_receivable_modes_are_accepted(admin_client, api_type, mode):
    body = {**STATION, "api_config": {"api_type": api_type, "mode": mode}}
    response = admin_client.post("/api/v1/stations", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["api_config"]["mode"] == mode


@pytest.mark.parametrize(
    ("api_type", "mode", "message"),
    [
        ("openwebrx", "dmr", "'dmr' cannot be received from a openwebrx station; one of usb, "
                             "lsb, cw, am, sam, nfm, wfm"),
        ("openwebrx", "iq", "'iq' cannot be received from a openwebrx station; one of usb, lsb, "
                            "cw, am, sam, nfm, wfm"),
        ("kiwisdr", "wfm", "'wfm' cannot be received from a kiwisdr station; one of iq, usb, "
                           "lsb, cw, am, nbfm"),
        ("http_streaming", "drm", "'drm' cannot be received from a http_streaming station; one "
                                  "of usb, lsb, cw, am, fm"),
        ("simulated", "usb", "simulated stations take no mode"),
    ],
)  # fmt: skip
def test_unreceivable_mode_is_400_naming_api_config_mode(admin_client, api_type, mode, message):
    body = {**STATION, "api_config": {"api_type": api_type, "mode": mode}}
    response = admin_client.post("/api/v1/stations", body, format="json")
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "api_config.mode")
    assert message in str(error["details"])
    assert not Station.objects.filter(pk="owrx-fm").exists()


def test_unreceivable_mode_on_update_changes_nothing(admin_client):
    station = StationFactory(id="owrx-fm", api_config={"api_type": "openwebrx", "mode": "usb"})
    body = {**STATION, "api_config": {"api_type": "openwebrx", "mode": "dab"}}
    response = admin_client.put("/api/v1/stations/owrx-fm", body, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", "api_config.mode")
    station.refresh_from_db()
    assert station.api_config == {"api_type": "openwebrx", "mode": "usb"}


def test_status_names_the_collectors_reason_while_failing(viewer_client):
    from apps.core.timeutil import utc_now

    station = StationFactory(id="kiwi-busy", connection_status="error")
    reason = (
        "KiwiSDR refused: multiple connections from the same IP address are not allowed (badp=5)"
    )
    StationCheck.objects.create(station=station, checked_at=utc_now(), ok=False, error=reason)
    body = viewer_client.get("/api/v1/stations/kiwi-busy/status").json()
    assert (body["connection_status"], body["connection_error"]) == ("error", reason)
    Station.objects.filter(pk="kiwi-busy").update(connection_status="connected")
    body = viewer_client.get("/api/v1/stations/kiwi-busy/status").json()
    assert body["connection_error"] is None
