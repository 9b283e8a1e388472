"""Background work of the recordings app (django-q2 workers, or in-process embedded)."""

from apps.recordings.analysis import recording_analyze
from apps.recordings.services import analyses_fail_stale


def analyze_recording(recording_id: str) -> str:
    """pending → running → completed | failed (apps.recordings.analysis)."""
    return recording_analyze(recording_id=recording_id)


def fail_stale_analyses() -> int:
    """Periodic: running analyses without progress for services.ANALYSIS_STALE_AFTER."""
    return analyses_fail_stale()
