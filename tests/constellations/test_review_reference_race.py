"""PUT/PATCH of a reference transmitter deleted by a concurrent request.

Found: the view found it, then the service's save(update_fields=...) updated no row and
Django raised a bare DatabaseError ("Save with update_fields did not affect any rows."):
a 500. Now the 404 any request for a deleted reference transmitter gets."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.constellations import services
from apps.constellations.models import ReferenceTransmitter
from tests.helpers import assert_envelope, client_for, make_user

pytestmark = pytest.mark.django_db
BEACON = {"name": "IR1UAW beacon", "latitude": 45.1, "longitude": 8.0,
          "frequency_hz": 145_400_000, "tx_power_dbm": 37.0}  # fmt: skip


def test_patching_a_reference_deleted_meanwhile_is_a_404(monkeypatch):
    admin = make_user("ada", "admin")
    client = client_for(admin)
    created = client.post("/api/v1/reference-transmitters", BEACON, format="json").json()
    real = services.reference_transmitter_update

    def deleted_first(*, reference, **fields):
        ReferenceTransmitter.objects.filter(pk=reference.pk).delete()  # another request
        return real(reference=reference, **fields)

    monkeypatch.setattr(services, "reference_transmitter_update", deleted_first)
    url = f"/api/v1/reference-transmitters/{created['id']}"
    assert_envelope(client.patch(url, {"active": False}, format="json"), 404, "NOT_FOUND")
    assert ReferenceTransmitter.objects.count() == 0


def test_the_update_locks_the_row():
    admin = make_user("ada", "admin")
    reference = services.reference_transmitter_create(created_by=admin, **BEACON)
    with CaptureQueriesContext(connection) as queries:
        services.reference_transmitter_update(reference=reference, active=False)
    assert any("FOR UPDATE" in query["sql"] for query in queries.captured_queries)
    assert ReferenceTransmitter.objects.get().active is False
