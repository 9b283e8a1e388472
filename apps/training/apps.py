from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "apps.training"
    label = "training"
    verbose_name = "Training"

    def ready(self):
        from django_q.signals import post_spawn

        from apps.core.scheduling import register_periodic
        from apps.training.watchdog import on_worker_spawned

        # The fallback for a machine that died mid-job (a dead worker process on a
        # live machine is caught within seconds: on_worker_spawned).
        register_periodic(
            "training.fail_stale_jobs", "apps.training.watchdog.fail_stale_jobs", minutes=1
        )

        post_spawn.connect(on_worker_spawned, dispatch_uid="training-lost-jobs")
