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


class OutageFilter(logging.Filter):
    """On `django.request`: a 503 for an outage (apps.core.outages) is one line, no traceback.

    Every request during a database outage would otherwise log the same long
    traceback; the outage itself is worth one line per request at most.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from apps.core.outages import unavailable_reason

        if getattr(record, "status_code", None) == 503 and not record.exc_info:
            # A 503 the exception handler already logged with its reason.
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        elif record.exc_info and record.exc_info[1] is not None:
            reason = unavailable_reason(record.exc_info[1])
            if reason:
                record.msg = f"{record.msg} ({reason})"
                record.exc_info = None
                record.exc_text = None
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True
