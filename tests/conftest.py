"""Shared fixtures: users in each role, API clients authenticated with real JWTs."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.core.partitioning import forget_known_partitions
from tests.helpers import client_for, make_user


def pytest_configure(config):
    """The suite runs on PostgreSQL (partitions, COPY, concurrency): stop at once elsewhere."""
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        raise pytest.UsageError(
            f"Heimdall's tests need PostgreSQL, and DATABASE_URL gives {engine!r}. "
            "Run `make test` (postgres://postgres@127.0.0.1:5432/heimdall by default) or set "
            "DATABASE_URL=postgres://... and REDIS_URL=redis://.../15."
        )


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    from apps.constellations.autolocalize import forget_members
    from apps.constellations.selectors import forget_references
    from apps.ml import contacts
    from apps.ml.localization import forget_loaded_localization_models
    from apps.ml.scoring import forget_loaded_scorer
    from apps.signals.live import forget_listeners

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "artifacts")},
        },
    }
    cache.clear()  # rate-limit windows must not leak between tests
    forget_known_partitions()
    forget_loaded_scorer()  # every process-loaded model (anomaly, localization)
    forget_loaded_localization_models()
    forget_listeners()
    forget_members()
    forget_references()
    contacts.forget()  # the contacts' levels this process remembers from ingest
    yield
    contacts.forget()
    cache.clear()
    forget_loaded_scorer()
    forget_loaded_localization_models()


@pytest.fixture
def rate_window_held(monkeypatch):
    """The rate limiter's clock held where it is when the test starts. Its windows are
    fixed on the wall clock (a minute's, an hour's): a test counting requests against a
    limit failed when it ran across the turn of one, the count starting again at zero
    (a 429 expected, a 401 got; `remaining` not counting down)."""
    import time
    import types

    from apps.core import ratelimit

    held = time.time()
    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: held))


@pytest.fixture
def console_log():
    """What the process's configured console log handler (LOGGING in settings, with its
    filters) writes during the test, as a StringIO."""
    import io
    import logging

    (console,) = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    written = io.StringIO()
    saved = console.setStream(written)
    yield written
    console.setStream(saved)


@pytest.fixture(scope="session")
def trained_anomaly_model():
    """The default anomaly model, trained once per test session: (model, metrics)."""
    from apps.ml.anomaly_training import train_default

    return train_default()


@pytest.fixture
def anomaly_model(db, trained_anomaly_model, django_capture_on_commit_callbacks):
    """The default model registered and deployed, as `ensure_default_models` leaves it."""
    from apps.ml.models import MLModel
    from apps.ml.services import model_activate, model_register

    model, metrics = trained_anomaly_model
    with django_capture_on_commit_callbacks(execute=True):
        registered = model_register(
            name="gaussian-mixture-default",
            version="1.0.0",
            model_type=MLModel.Type.ANOMALY_DETECTION,
            weights=model.to_bytes(),
            weights_name="model.npz",
            metrics=metrics,
            config={"algorithm": "gaussian_mixture"},
        )
        model_activate(model=registered)
    return registered


@pytest.fixture
def localization_model(db, django_capture_on_commit_callbacks):
    """The shipped default localization model, registered and deployed as
    `ensure_default_models` leaves it."""
    from apps.ml.management.commands.ensure_default_models import (
        register_default_localization_model,
    )
    from apps.ml.services import model_activate

    with django_capture_on_commit_callbacks(execute=True):
        registered = register_default_localization_model()
        model_activate(model=registered)
    return registered


@pytest.fixture
def admin_user(db):
    return make_user("ada", "admin", email="ada@example.com", display_name="Ada Admin")


@pytest.fixture
def operator_user(db):
    return make_user("otto", "operator", email="otto@example.com")


@pytest.fixture
def viewer_user(db):
    return make_user("vera", "viewer", email="vera@example.com")


@pytest.fixture
def collector_user(db):
    return make_user("collector-1", "collector")


@pytest.fixture
def anon_client():
    return APIClient()


@pytest.fixture
def admin_client(admin_user):
    return client_for(admin_user)


@pytest.fixture
def operator_client(operator_user):
    return client_for(operator_user)


@pytest.fixture
def viewer_client(viewer_user):
    return client_for(viewer_user)


@pytest.fixture
def role_clients(admin_user, operator_user, viewer_user):
    """A client per role, plus anonymous."""
    return {
        "anonymous": APIClient(),
        "viewer": client_for(viewer_user),
        "operator": client_for(operator_user),
        "admin": client_for(admin_user),
    }
