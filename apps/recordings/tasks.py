"""Background work of the recordings app (django-q2 workers, or in-process embedded)."""

from apps.recordings.analysis import recording_analyze


def analyze_recording(recording_id: str) -> str:
    """pending → running → completed | failed (apps.recordings.analysis)."""
    return recording_analyze(recording_id=recording_id)
