import logging

from apps.core.request_id import _current


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every log record (`-` outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or "-"
        return True
