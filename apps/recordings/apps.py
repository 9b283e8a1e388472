from django.apps import AppConfig


class RecordingsConfig(AppConfig):
    name = "apps.recordings"
    label = "recordings"
    verbose_name = "SigMF recordings"

    def ready(self) -> None:
        from apps.core.middleware import register_body_limit
        from apps.core.scheduling import register_periodic
        from apps.recordings import selectors
        from apps.stations import activity

        # A station with recordings cannot be deleted (their files would be orphaned).
        activity.register(history_fn=selectors.station_has_recordings, history_name="recordings")
        # Recording uploads are streamed to disk: their own, larger, body limit.
        register_body_limit(r"^/api/v1/recordings/?$", "HEIMDALL_RECORDING_MAX_BYTES")
        # A running analysis whose worker died is failed (then it may be asked again).
        register_periodic(
            "recordings.fail_stale_analyses",
            "apps.recordings.tasks.fail_stale_analyses",
            minutes=1,
        )
