import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the superuser `admin` if absent. The password is HEIMDALL_ADMIN_PASSWORD, "
        "else generated and printed once."
    )

    def handle(self, *args, **options):
        user_model = get_user_model()
        if user_model.objects.filter(username="admin").exists():
            self.stdout.write("Admin user 'admin' already exists.")
            return
        password = settings.HEIMDALL_ADMIN_PASSWORD
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        user = user_model.objects.create_superuser("admin", email="", password=password)
        user.groups.add(Group.objects.get_or_create(name="admin")[0])
        if generated:
            self.stdout.write(
                self.style.WARNING(f"Created admin user 'admin' with password: {password}")
            )
        else:
            self.stdout.write("Created admin user 'admin' (password from HEIMDALL_ADMIN_PASSWORD).")
