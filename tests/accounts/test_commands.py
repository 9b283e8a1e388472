import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from apps.accounts.roles import role_of
from apps.stations.demo import DEMO_STATIONS
from apps.stations.models import Station

pytestmark = pytest.mark.django_db


def run(*args, **kwargs) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


def test_roles_data_migration_creates_the_groups_idempotently():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("apps.accounts.migrations.0002_roles")
    Group.objects.filter(name__in=migration.ROLES).delete()  # a flushed database
    migration.create_roles(apps, None)
    migration.create_roles(apps, None)
    names = list(Group.objects.filter(name__in=migration.ROLES).values_list("name", flat=True))
    assert sorted(names) == ["admin", "collector", "operator", "viewer"]


def test_create_user_command():
    output = run("create_user", "ops1", "--role", "operator", "--password", "Str0ng-pass-phrase",
                 "--email", "ops1@example.com")  # fmt: skip
    user = get_user_model().objects.get(username="ops1")
    assert f"Created operator ops1 ({user.pk})" in output
    assert role_of(user) == "operator"
    assert user.email == "ops1@example.com"
    assert user.check_password("Str0ng-pass-phrase")
    assert not user.is_staff


def test_create_user_rejects_duplicates_and_weak_passwords():
    run("create_user", "ops1", "--role", "viewer", "--password", "Str0ng-pass-phrase")
    with pytest.raises(CommandError, match="already exists"):
        run("create_user", "ops1", "--role", "viewer", "--password", "Str0ng-pass-phrase")
    with pytest.raises(CommandError, match="password"):
        run("create_user", "ops2", "--role", "viewer", "--password", "123")
    assert not get_user_model().objects.filter(username="ops2").exists()


def test_admin_role_gets_django_admin_access():
    run("create_user", "boss", "--role", "admin", "--password", "Str0ng-pass-phrase")
    assert get_user_model().objects.get(username="boss").is_staff


def test_ensure_admin_generates_and_prints_password(settings):
    settings.HEIMDALL_ADMIN_PASSWORD = ""
    output = run("ensure_admin")
    password = output.strip().rsplit(" ", 1)[-1]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password(password)
    assert "already exists" in run("ensure_admin")


def test_ensure_admin_uses_configured_password(settings):
    settings.HEIMDALL_ADMIN_PASSWORD = "configured-secret-1"
    output = run("ensure_admin")
    assert "configured-secret-1" not in output
    assert get_user_model().objects.get(username="admin").check_password("configured-secret-1")


def test_load_demo_stations_is_idempotent_and_keeps_edits():
    run("load_demo_stations")
    assert Station.objects.count() == len(DEMO_STATIONS)
    twente = Station.objects.get(pk="twente-nl")
    assert (twente.latitude, twente.longitude) == (52.2387, 6.8509)
    assert twente.api_config["api_type"] == "simulated"
    assert twente.api_config["frequency_hz"] == 14_200_000  # tuned to the 20 m band
    Station.objects.filter(pk="twente-nl").update(name="Renamed")
    assert "0 added" in run("load_demo_stations")
    assert Station.objects.get(pk="twente-nl").name == "Renamed"
    italian = Station.objects.get(pk="torino-it")
    assert (italian.frequency_min, italian.frequency_max) == (144_000_000, 440_000_000)


def test_ensure_admin_banner_says_where_and_how_to_log_in(settings):
    settings.HEIMDALL_ADMIN_PASSWORD = ""
    first = run("ensure_admin", "--banner", "http://127.0.0.1:8000")
    password = next(line for line in first.splitlines() if "Password" in line).split()[-1]
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert "Heimdall console   http://127.0.0.1:8000/" in first
    assert "User name          admin" in first
    assert "manage.py changepassword admin" in first
    again = run("ensure_admin", "--banner", "http://127.0.0.1:8000")
    assert password not in again and "not shown again" in again
