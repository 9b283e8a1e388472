from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "apps.training"
    label = "training"
    verbose_name = "Training"

    def ready(self):
        from django_q.signals import post_spawn

        from apps.training.watchdog import on_worker_spawned

        post_spawn.connect(on_worker_spawned, dispatch_uid="training-lost-jobs")
