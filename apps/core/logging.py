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
    """On the console handler: a record whose exception is an outage (apps.core.outages:
    the database or Redis unreachable) is one WARNING line ending in the reason, without
    the traceback; so is a 503 the exception handler logged.

    Long-running processes (collectors, workers, daphne, the scheduler) go on through an
    outage by design, and every request, batch, hook or library (channels_redis,
    django-q2, Django's on_commit) would otherwise log the same long traceback for it:
    the outage is worth one line each, the log stays readable for real errors. On the
    handler, not per logger, so records of every library pass through it.
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
