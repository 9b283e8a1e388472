"""The console stores nothing of its own; this module lets Django send it post_migrate
(apps.dashboard.admin_access)."""
