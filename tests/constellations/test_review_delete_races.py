"""Constellation writes racing its deletion (another request deleted it after this one
found it): each is the 404 a deleted constellation gets.

Found: an update re-inserted the deleted constellation (save() on a missing row inserts
it: a constellation without members or owner permissions, listed to admins only); a
member, share or share change failed its foreign key at commit: a 500."""

import pytest

from apps.constellations import services
from apps.constellations.models import Constellation
from apps.core.exceptions import NotFound
from tests.constellations import factories
from tests.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def stale():
    """(owner, another user, the constellation as a request found it, now deleted)."""
    owner = make_user("olga", "operator")
    other = make_user("rita", "operator")
    factories.italian_stations()
    constellation = factories.constellation_of(owner, ["torino-it"])
    services.share_create(constellation=constellation, user_id=other.pk, permission="read",
                          shared_by=owner)  # fmt: skip
    Constellation.objects.filter(pk=constellation.pk).delete()  # the concurrent request
    return owner, other, constellation


def test_writes_to_a_deleted_constellation_are_not_found(stale):
    owner, other, constellation = stale
    writes = [
        lambda: services.constellation_update(constellation=constellation, name="Back"),
        lambda: services.member_add(constellation=constellation, station_id="milano-it",
                                    added_by=owner),
        lambda: services.share_create(constellation=constellation, user_id=make_user(
            "sam", "operator").pk, permission="read", shared_by=owner),
        lambda: services.share_update(constellation=constellation, user_id=other.pk,
                                      permission="edit"),
        lambda: services.share_revoke(constellation=constellation, user_id=other.pk),
    ]  # fmt: skip
    for write in writes:
        with pytest.raises(NotFound):
            write()
    assert not Constellation.objects.filter(pk=constellation.pk).exists()
