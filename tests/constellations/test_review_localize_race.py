"""A localize request whose constellation is deleted while it is being located.

Found: the fix was validated and located, then its INSERT (its foreign key checked at
commit) failed: a 500 from the IntegrityError. Now the 404 any request for a deleted
constellation gets, and nothing stored."""

import pytest

from apps.constellations import locate as locate_module
from apps.constellations.models import Constellation, Localization
from tests.constellations import factories
from tests.helpers import assert_envelope, client_for, make_user

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
IDS = [row["id"] for row in factories.ITALIAN]


def test_a_constellation_deleted_while_locating_is_a_404(monkeypatch):
    owner = make_user("olga", "operator")
    factories.italian_stations()
    constellation = factories.constellation_of(owner, IDS)
    client = client_for(owner)
    real = locate_module.locate

    def locate_while_deleted(*args, **kwargs):
        result = real(*args, **kwargs)
        Constellation.objects.filter(pk=constellation.pk).delete()  # another request
        return result

    monkeypatch.setattr(locate_module, "locate", locate_while_deleted)
    body = {"frequency_hz": factories.FREQUENCY_HZ,
            "measurements": factories.measurements(factories.strengths(IDS))}  # fmt: skip
    response = client.post(f"/api/v1/constellations/{constellation.pk}/localize", body,
                           format="json")  # fmt: skip
    assert_envelope(response, 404, "NOT_FOUND")
    assert Localization.objects.count() == 0


REFERENCE = {"name": "IR1UAW beacon", "latitude": 45.1, "longitude": 8.0,
             "frequency_hz": 145_400_000, "tx_power_dbm": 37.0}  # fmt: skip


def test_a_reference_transmitter_deleted_by_another_process_does_not_lose_the_fix():
    # Found: every process caches the active references for 5 s; a reference deleted by
    # another process (here: behind the service's back, which clears only its own cache)
    # was still linked to new fixes, whose insert then failed at commit: a 500.
    from apps.constellations.models import ReferenceTransmitter

    admin = make_user("ada", "admin")
    factories.italian_stations()
    constellation = factories.constellation_of(admin, IDS)
    client = client_for(admin)
    created = client.post("/api/v1/reference-transmitters", REFERENCE, format="json")
    assert created.status_code == 201, created.content
    url = f"/api/v1/constellations/{constellation.pk}/localize"
    body = {"frequency_hz": REFERENCE["frequency_hz"],
            "measurements": factories.measurements(factories.strengths(IDS))}  # fmt: skip
    first = client.post(url, body, format="json")
    assert first.json()["reference_transmitter_id"] == created.json()["id"]  # now cached
    ReferenceTransmitter.objects.all().delete()  # another process deletes it
    second = client.post(url, body, format="json")
    assert second.status_code == 201, second.content
    assert second.json()["reference_transmitter_id"] is None
    assert Localization.objects.count() == 2


def test_an_automatic_fix_survives_a_reference_deleted_meanwhile(settings):
    from datetime import timedelta

    from apps.constellations.models import ReferenceTransmitter
    from apps.core.tasks import wait_inprocess_idle
    from apps.core.timeutil import utc_now
    from tests.signals.factories import DetectionFactory
    from tests.signals.factories import ingest as store

    settings.HEIMDALL_TASK_BACKEND = "inprocess"
    settings.HEIMDALL_AUTO_LOCALIZE = True
    admin = make_user("ada", "admin")
    factories.italian_stations()
    factories.constellation_of(admin, IDS)
    client = client_for(admin)
    assert client.post("/api/v1/reference-transmitters", REFERENCE,
                       format="json").status_code == 201  # fmt: skip
    from apps.constellations.selectors import reference_for

    assert reference_for(REFERENCE["frequency_hz"]) is not None  # cached in this process
    ReferenceTransmitter.objects.all().delete()  # by another process
    stations = ["torino-it", "milano-it", "genova-it"]
    strengths = factories.strengths(stations, frequency_hz=REFERENCE["frequency_hz"])
    when = utc_now()
    store(*[
        DetectionFactory(when=when + timedelta(seconds=0.2 * i), websdr_station_id=s,
                         frequency_hz=REFERENCE["frequency_hz"], signal_strength_db=strengths[s],
                         bandwidth_hz=12_500, modulation_type="NFM")
        for i, s in enumerate(stations)
    ])  # fmt: skip
    wait_inprocess_idle()
    fixes = list(Localization.objects.all())
    assert len(fixes) == 1 and fixes[0].trigger == "auto"
    assert fixes[0].reference_transmitter_id is None
