"""Background tasks of the signals app (scheduled: see apps.core.scheduling)."""

import logging

from django.conf import settings

from apps.core.partitioning import ensure_partitions_ahead
from apps.core.timeutil import utc_now
from apps.signals.models import SignalDetection
from apps.signals.retention import retention_apply

logger = logging.getLogger(__name__)


def maintain_partitions() -> list[str]:
    """Create the daily detection partitions from yesterday to N days ahead."""
    created = ensure_partitions_ahead(
        SignalDetection._meta.db_table, utc_now().date(), settings.HEIMDALL_PARTITIONS_AHEAD_DAYS
    )
    return [day.isoformat() for day in created]


def apply_retention() -> dict:
    result = retention_apply(now=utc_now())
    logger.info("retention: %s", result)
    return result
