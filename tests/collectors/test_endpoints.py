"""Station URLs → receiver endpoints, as each receiver's own page builds them."""

import pytest

from apps.collectors.base import ProtocolError
from apps.collectors.endpoints import (
    kiwisdr_endpoint,
    openwebrx_endpoint,
    websdr_endpoint,
    websdr_http,
)

OPENWEBRX = [
    # the example: https's default port is 443, not 8073
    ("https://owrx.example.org/", "wss://owrx.example.org/ws/"),
    ("https://owrx.example.org", "wss://owrx.example.org/ws/"),
    ("http://owrx.example.org:8073/", "ws://owrx.example.org:8073/ws/"),
    ("http://owrx.example.org:80/", "ws://owrx.example.org/ws/"),
    ("https://owrx.example.org:443/", "wss://owrx.example.org/ws/"),
    ("https://owrx.example.org:8443/", "wss://owrx.example.org:8443/ws/"),
    ("http://owrx.example.org:443/", "ws://owrx.example.org:443/ws/"),
    ("HTTP://OWRX.Example.ORG:8073/", "ws://owrx.example.org:8073/ws/"),
    # behind a reverse proxy at a sub-path: the page's directory
    ("https://example.org/sdr/", "wss://example.org/sdr/ws/"),
    ("https://example.org/sdr/index.html", "wss://example.org/sdr/ws/"),
    ("https://example.org/sdr", "wss://example.org/ws/"),  # as the browser cuts it
    ("https://example.org/a/b/?lang=it#freq=145500000", "wss://example.org/a/b/ws/"),
    # host forms
    ("http://[2001:db8::1]:8073/", "ws://[2001:db8::1]:8073/ws/"),
    ("https://[2001:DB8::1]/", "wss://[2001:db8::1]/ws/"),
    ("http://192.0.2.7:8073/", "ws://192.0.2.7:8073/ws/"),
    ("https://bücher.example/", "wss://xn--bcher-kva.example/ws/"),
    ("https://faß.example/", "wss://xn--fa-hia.example/ws/"),  # UTS 46, as browsers
    ("http://user:secret@owrx.example.org:8073/", "ws://owrx.example.org:8073/ws/"),
    ("http://sdr.local.:8073/", "ws://sdr.local.:8073/ws/"),
    # IPv4 in every form a browser reads (WHATWG "ends in a number")
    ("http://0x7f.1:8073/", "ws://127.0.0.1:8073/ws/"),
    ("http://2130706433:8073/", "ws://127.0.0.1:8073/ws/"),
    ("http://0177.0.0.01/", "ws://127.0.0.1/ws/"),
    ("http://192.0.2.7./", "ws://192.0.2.7/ws/"),
    ("http://１９２.０.２.７/", "ws://192.0.2.7/ws/"),
    # paths as the browser serialises them: dot segments, escapes, backslashes
    ("https://example.org/a/../sdr/", "wss://example.org/sdr/ws/"),
    ("https://example.org/./sdr/%2E%2e/x/", "wss://example.org/x/ws/"),
    ("https://example.org/my sdr/", "wss://example.org/my%20sdr/ws/"),
    ("https://example.org/empfänger/", "wss://example.org/empf%C3%A4nger/ws/"),
    ("https://example.org/%41b/", "wss://example.org/%41b/ws/"),
    ("http:\\\\owrx.example.org\\sdr\\", "ws://owrx.example.org/sdr/ws/"),
    # an endpoint named directly (api_config.stream_url)
    ("wss://owrx.example.org/ws/", "wss://owrx.example.org/ws/"),
    ("ws://owrx.example.org:8073", "ws://owrx.example.org:8073/ws/"),
    ("wss://owrx.example.org/ws/../stream here", "wss://owrx.example.org/stream%20here"),
]


@pytest.mark.parametrize(("url", "endpoint"), OPENWEBRX)
def test_openwebrx_endpoint(url, endpoint):
    assert openwebrx_endpoint(url) == endpoint


KIWISDR = [
    ("http://kiwi.example.org:8073/", "ws://kiwi.example.org:8073/1700000000/SND"),
    ("https://kiwi.example.org/", "wss://kiwi.example.org/1700000000/SND"),
    ("https://kiwi.example.org:443/?f=7074usb", "wss://kiwi.example.org/1700000000/SND"),
    ("http://kiwi.example.org:8073/some/page", "ws://kiwi.example.org:8073/1700000000/SND"),
    ("http://[2001:db8::2]:8073/", "ws://[2001:db8::2]:8073/1700000000/SND"),
    ("http://kiwi.example.org/", "ws://kiwi.example.org/1700000000/SND"),
]


@pytest.mark.parametrize(("url", "endpoint"), KIWISDR)
def test_kiwisdr_endpoint(url, endpoint):
    assert kiwisdr_endpoint(url, 1_700_000_000) == endpoint


def test_websdr_endpoints():
    twente = "http://websdr.ewi.utwente.nl:8901/"
    assert websdr_endpoint(twente, v11=False) == "ws://websdr.ewi.utwente.nl:8901/~~stream"
    assert websdr_endpoint(twente, v11=True) == "ws://websdr.ewi.utwente.nl:8901/~~stream?v=11"
    assert websdr_http(twente, "/tmp/bandinfo.js") == (
        "http://websdr.ewi.utwente.nl:8901/tmp/bandinfo.js"
    )
    assert websdr_endpoint("https://websdr.example.org/x/", v11=False) == (
        "wss://websdr.example.org/~~stream"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://owrx.example.org/", "URL scheme 'ftp' is not http, https, ws or wss"),
        ("owrx.example.org:8073", "URL scheme 'owrx.example.org' is not http, https, ws or wss"),
        ("http:///ws/", "URL 'http:///ws/' has no host"),
        ("http://owrx.example.org:99999/",
         "URL 'http://owrx.example.org:99999/' has an invalid port"),
        ("", "the station has no URL"),
        ("http://999.1.1.1/", "host '999.1.1.1' is not a valid IPv4 address"),
        ("http://1.2.3.4.5/", "host '1.2.3.4.5' is not a valid IPv4 address"),
        ("http://08.1/", "host '08.1' is not a valid IPv4 address"),
        ("http://owrx.example.123/", "host 'owrx.example.123' is not a valid IPv4 address"),
    ],
)  # fmt: skip
def test_unusable_urls_are_named(url, reason):
    with pytest.raises(ProtocolError) as caught:
        openwebrx_endpoint(url)
    assert str(caught.value) == reason
