"""Long-running processes freeze their start-up objects out of the cyclic collector
(apps.core.memory): the web app when it is built, a collector before it runs."""

import gc
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command


def test_the_web_app_freezes_its_startup_objects():
    code = (
        "import gc, os, sys\n"
        "before = gc.get_freeze_count()\n"
        "import heimdall.asgi\n"
        "frozen = gc.get_freeze_count()\n"
        "print(before, frozen, len(gc.get_objects()))\n"
        "sys.stdout.flush()\n"
        "os._exit(0)\n"  # not waiting for the embedded threads, if any
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env={**os.environ},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    before, frozen, tracked = map(int, done.stdout.split())
    assert before == 0
    # Django, DRF, channels and the apps: well over 100,000 objects, now never walked.
    assert frozen > 100_000
    assert tracked < frozen / 10


# serialized_rollback: as every transactional test here (the next one reloads the data).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_collector_freezes_its_startup_objects_before_it_runs():
    gc.unfreeze()
    try:
        call_command("collect", "--duration", "0.1")
        assert gc.get_freeze_count() > 100_000
    finally:
        gc.unfreeze()  # the rest of the test session as it was
