"""The automatic localization's settings are honoured: HEIMDALL_AUTO_LOCALIZE_WINDOW_S and
HEIMDALL_LOCALIZE_MIN_TOLERANCE_HZ (docs/localization.md, "Automatic fixes").

Found: only HEIMDALL_AUTO_LOCALIZE (on/off) was tested; nothing showed that the window
and the tolerance the issue asks to be configurable change what is localized."""

from datetime import timedelta

import pytest

from apps.constellations.models import Localization
from apps.core.tasks import wait_inprocess_idle
from apps.core.timeutil import utc_now
from tests.constellations import factories
from tests.helpers import make_user
from tests.signals.factories import DetectionFactory
from tests.signals.factories import ingest as store

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
STATIONS = ["torino-it", "passo-giovi-it", "milano-it"]


@pytest.fixture(autouse=True)
def _world(settings):
    settings.HEIMDALL_TASK_BACKEND = "inprocess"
    settings.HEIMDALL_AUTO_LOCALIZE = True
    owner = make_user("olga", "operator")
    factories.italian_stations()
    factories.constellation_of(owner, STATIONS)


def heard(*, when, spread_s, offsets_hz=(0, 0, 0), bandwidth=2_400):
    strengths = factories.strengths(STATIONS, shadowing_seed=3)
    store(*[
        DetectionFactory(when=when + timedelta(seconds=spread_s * i / 2), websdr_station_id=s,
                         frequency_hz=145_500_000 + offsets_hz[i],
                         signal_strength_db=strengths[s], bandwidth_hz=bandwidth)
        for i, s in enumerate(STATIONS)
    ])  # fmt: skip
    wait_inprocess_idle()
    return Localization.objects.count()


def test_the_window_is_configurable(settings):
    now = utc_now()
    assert heard(when=now, spread_s=3.0) == 0  # default 2 s: not one transmission
    settings.HEIMDALL_AUTO_LOCALIZE_WINDOW_S = 4.0
    assert heard(when=now + timedelta(seconds=60), spread_s=3.0) == 1


def test_the_tolerance_is_configurable(settings):
    now = utc_now()
    # 1,500 Hz apart, half-bandwidth 1,200 Hz, minimum 500 Hz: two frequencies.
    assert heard(when=now, spread_s=0.5, offsets_hz=(0, 1_500, 0)) == 0
    settings.HEIMDALL_LOCALIZE_MIN_TOLERANCE_HZ = 2_000
    assert heard(when=now + timedelta(seconds=60), spread_s=0.5, offsets_hz=(0, 1_500, 0)) == 1
