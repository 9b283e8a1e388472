"""Receiver endpoints from station URLs, built the way each receiver's own web page builds them.

A station's `url` (or `api_config.stream_url`) is the address an operator
opens in a browser. The receiver's page then opens its WebSocket from
`window.location`; Heimdall does the same, so that every URL that works in a
browser works here:

* scheme: `http` → `ws`, `https` → `wss`; a `ws`/`wss` URL with a path (an
  `api_config.stream_url` naming the endpoint itself) is used as it is,
  one without a path is treated like its http/https page;
* scheme, host and port as `apps.core.weburl.page_location` reads them (the
  station API checks URLs with the same function, so a stored URL is one a
  collector can use);
* path: each receiver's own rule (below); query and fragment are dropped.

Sources of the rules:
* OpenWebRX, `htdocs/openwebrx.js` `open_websocket()` (jketterl/openwebrx and
  luarvique/openwebrx alike): the page's href up to its last "/", plus "ws/".
  A receiver behind a reverse proxy at `https://example.org/sdr/` is at
  `wss://example.org/sdr/ws/`.
* KiwiSDR, `web/kiwi/kiwi_util.js` `open_websocket()` (jks-prv/Beagle_SDR_GPS):
  the page's origin only (`window.location.origin`), any path dropped; the
  stream path `/<timestamp>/SND` is the one `rx/rx_server.cpp` accepts from
  non-browser clients (kiwiclient's `kiwi/client.py` `_prepare_stream`).
* Classic WebSDR (PA3FWM): the sound script opens
  `ws://` + `location.host` + `/~~stream` (`/~~stream?v=11` on the
  distributed servers), as described in Guru-RF/VFO-Knob
  `components/wsdr_proto/include/wsdr_proto.h`; any path dropped.
"""

from apps.collectors.base import ProtocolError
from apps.core import weburl
from apps.core.weburl import PageLocation


def page_location(url: str) -> PageLocation:
    """The browser's view of `url`; ProtocolError names what makes it unusable."""
    try:
        return weburl.page_location(url)
    except weburl.BadURL as exc:
        raise ProtocolError(str(exc)) from None


def openwebrx_endpoint(url: str) -> str:
    """`https://owrx.example.org/` → `wss://owrx.example.org/ws/` (openwebrx.js rule)."""
    location = page_location(url)
    directory = location.path[: location.path.rfind("/") + 1] or "/"
    return location.endpoint_or(f"{directory}ws/")


def kiwisdr_endpoint(url: str, timestamp: int) -> str:
    """`http://kiwi.example.org:8073/` → `ws://kiwi.example.org:8073/<timestamp>/SND`."""
    return page_location(url).endpoint_or(f"/{timestamp}/SND")


def websdr_endpoint(url: str, *, v11: bool) -> str:
    """`http://websdr.ewi.utwente.nl:8901/` → `ws://websdr.ewi.utwente.nl:8901/~~stream`."""
    return page_location(url).endpoint_or("/~~stream?v=11" if v11 else "/~~stream")


def websdr_http(url: str, path: str) -> str:
    """An HTTP resource of a classic WebSDR's site, e.g. `/tmp/bandinfo.js`."""
    return page_location(url).http(path)
