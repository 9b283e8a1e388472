from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The operator console: server-rendered pages over the apps' services and selectors."""

    name = "apps.dashboard"
    label = "dashboard"
    verbose_name = "Operator console"

    def ready(self):
        from django.contrib import admin
        from django.db.models.signals import post_migrate

        from apps.dashboard.admin_access import on_post_migrate

        # The `admin` role's model permissions for /admin/ (apps.dashboard.admin_access).
        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="heimdall-admin-perms")

        # The admin's "view site" link leads to the console.
        admin.site.site_url = "/"
        admin.site.site_header = "Heimdall administration"
        admin.site.site_title = "Heimdall admin"
