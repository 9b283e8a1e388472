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
        # A dataset whose generating worker died: failed (it stayed `generating` for ever).
        register_periodic(
            "training.fail_stale_datasets", "apps.training.tasks.fail_stale_datasets", minutes=1
        )

        from django.conf import settings

        if settings.HEIMDALL_ANOMALY_RETRAIN_MINUTES > 0:  # the context anomaly model
            register_periodic(
                "training.retrain_anomaly_model",
                "apps.training.tasks.retrain_anomaly_model",
                minutes=settings.HEIMDALL_ANOMALY_RETRAIN_MINUTES,
            )

        # The registry (apps.ml, below this app) validates a model's training_config
        # with seed 000's TrainingConfig through this registration.
        from apps.ml import training_configs
        from apps.training.config import (
            CLASSIFICATION_ARCHITECTURES,
            LOCALIZATION_ARCHITECTURES,
            validate_given,
        )

        training_configs.register("localization", validate_given, LOCALIZATION_ARCHITECTURES)
        training_configs.register(
            "signal_classification", validate_given, CLASSIFICATION_ARCHITECTURES
        )
        # ... and refuses the external trainers' callbacks for a model one of its jobs trains.
        from apps.training.selectors import unfinished_job_of_model

        training_configs.register_job_lookup(unfinished_job_of_model)
