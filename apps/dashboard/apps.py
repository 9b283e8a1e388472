from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The operator console: server-rendered pages over the apps' services and selectors."""

    name = "apps.dashboard"
    label = "dashboard"
    verbose_name = "Operator console"

    def ready(self):
        from django.contrib import admin

        # The admin's "view site" link leads to the console.
        admin.site.site_url = "/"
        admin.site.site_header = "Heimdall administration"
        admin.site.site_title = "Heimdall admin"
