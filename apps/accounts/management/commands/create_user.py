from django.core.management.base import BaseCommand, CommandError

from apps.accounts.roles import Role
from apps.accounts.services import user_create
from apps.core.exceptions import HeimdallError


class Command(BaseCommand):
    help = "Create a Heimdall user with a role (admin, operator, viewer, collector)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=[r.value for r in Role])
        parser.add_argument("--password", required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--display-name", default="")

    def handle(self, *args, **options):
        try:
            user = user_create(
                username=options["username"],
                password=options["password"],
                role=options["role"],
                email=options["email"],
                display_name=options["display_name"],
            )
        except HeimdallError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Created {options['role']} {user.username} ({user.pk})")
