"""Station URL → browser location for host forms the collectors got wrong (found by review)."""

import pytest

from apps.collectors.base import ProtocolError
from apps.collectors.endpoints import kiwisdr_endpoint, openwebrx_endpoint
from apps.core.weburl import url_problem


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        # Found: kept as "ex%61mple.org" (browsers decode percent-escapes in hosts).
        ("http://ex%61mple.org:8073/", "ws://example.org:8073/ws/"),
        # IPv6 literals in canonical form, as the browser serialises them.
        ("http://[2001:0DB8:0000::0001]:8073/", "ws://[2001:db8::1]:8073/ws/"),
        ("http://[::ffff:192.0.2.1]/", "ws://[::ffff:c000:201]/ws/"),
        # Full-width letters map to ASCII by UTS #46.
        ("http://ｅｘａｍｐｌｅ.org/", "ws://example.org/ws/"),
    ],
)
def test_host_forms_as_a_browser_reads_them(url, endpoint):
    assert openwebrx_endpoint(url) == endpoint


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/",  # Found: a ValueError escaped (not the collector's ProtocolError)
        "http://a b/",  # Found: built "ws://a b/ws/"
        "http://[fe80::1%25eth0]:8073/",  # Found: built with the zone id; browsers refuse it
        "http://example.org:0/",  # Found: built "ws://example.org:0/ws/"
        "http://exa<mple.org/",
        "http://%00.example.org/",
        "http://[1:2:3]/",
    ],
)
def test_urls_no_browser_opens_are_named_protocol_errors(url):
    with pytest.raises(ProtocolError):
        kiwisdr_endpoint(url, 1)
    assert url_problem(url)
