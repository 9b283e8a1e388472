import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the superuser `admin` if absent. The password is HEIMDALL_ADMIN_PASSWORD, "
        "else generated and printed once. With --banner URL: end with a banner saying where "
        "the console is and how to log in (what `make run` shows last)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--banner", metavar="URL", help="the console's URL, for the banner")

    def handle(self, *args, **options):
        user_model = get_user_model()
        password = None
        if user_model.objects.filter(username="admin").exists():
            note = "set on the first run (not shown again)"
            if not options["banner"]:
                self.stdout.write("Admin user 'admin' already exists.")
        else:
            password = settings.HEIMDALL_ADMIN_PASSWORD
            generated = not password
            if generated:
                password = secrets.token_urlsafe(12)
            user = user_model.objects.create_superuser("admin", email="", password=password)
            user.groups.add(Group.objects.get_or_create(name="admin")[0])
            note = password if generated else "from HEIMDALL_ADMIN_PASSWORD"
            if not options["banner"]:
                if generated:
                    self.stdout.write(
                        self.style.WARNING(f"Created admin user 'admin' with password: {password}")
                    )
                else:
                    self.stdout.write(
                        "Created admin user 'admin' (password from HEIMDALL_ADMIN_PASSWORD)."
                    )
        if options["banner"]:
            self._banner(options["banner"].rstrip("/"), note, shown=password is not None)

    def _banner(self, url: str, password_note: str, *, shown: bool) -> None:
        rule = "=" * 72
        lines = [
            rule,
            f"  Heimdall console   {url}/",
            "  User name          admin",
            f"  Password           {password_note}",
            "  Forgot it?         .venv/bin/python manage.py changepassword admin",
            f"  Django admin       {url}/admin/      API docs  {url}/api/v1/docs/",
            rule,
        ]
        text = "\n".join(lines)
        self.stdout.write(self.style.WARNING(text) if shown else text)
