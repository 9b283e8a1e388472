from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self):
        from apps.core.outages import install_fork_guard
        from apps.core.scheduling import sync_django_q_schedules

        # django-q2 forks its workers: a child must not share the parent's pooled sockets.
        install_fork_guard()

        # After django_q's own migrations have run (any app's post_migrate is fine:
        # the receiver is idempotent), keep the periodic task schedules current.
        post_migrate.connect(sync_django_q_schedules, dispatch_uid="heimdall-schedules")
