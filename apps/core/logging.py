import logging

from apps.core.proxies import current_client
from apps.core.request_id import _current


class RequestIdFilter(logging.Filter):
    """Puts the current request id and client address on every log record (`-` outside requests).

    The client address is the one `apps.core.proxies` resolved: a forged
    X-Forwarded-For from an untrusted peer never reaches the logs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or "-"
        record.client = current_client() or "-"
        return True
