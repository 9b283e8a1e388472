import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from apps.constellations import services
from apps.constellations.models import (
    Constellation,
    ConstellationMember,
    ConstellationShare,
    ConstellationUserObjectPermission,
)
from tests.helpers import assert_envelope, client_for, make_user
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/constellations"


@pytest.fixture
def owner(db):
    return make_user("olga", "operator", email="olga@example.com", display_name="Olga Owner")


@pytest.fixture
def alice(db):
    return make_user("alice", "operator", email="alice@example.com", display_name="Alice Johnson")


@pytest.fixture
def stations(db):
    StationFactory(id="rome-it", name="Rome WebSDR", location="Rome, Italy", latitude=41.9028,
                      longitude=12.4964)  # fmt: skip
    StationFactory(id="milan-it", name="Milan WebSDR", location="Milan, Italy", latitude=45.4642,
                      longitude=9.19)  # fmt: skip


def test_seed_walkthrough(owner, alice, stations):
    client = client_for(owner)
    seed_body = {
        "name": "Northern Italy Coverage",
        "description": "Stations covering northern Italy for VHF monitoring",
    }
    created = client.post(URL, seed_body, format="json")
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"id", "name", "description", "owner_id", "created_at", "updated_at"}
    assert body["owner_id"] == str(owner.pk)
    cid = body["id"]

    member = client.post(f"{URL}/{cid}/members", {"websdr_station_id": "rome-it"}, format="json")
    assert member.status_code == 201
    assert set(member.json()) == {"id", "constellation_id", "websdr_station_id", "added_at",
                                  "added_by"}  # fmt: skip
    assert member.json()["added_by"] == str(owner.pk)
    client.post(f"{URL}/{cid}/members", {"websdr_station_id": "milan-it"}, format="json")

    detail = client.get(f"{URL}/{cid}").json()
    assert detail["permission"] == "edit"
    assert [m["websdr_station_id"] for m in detail["members"]] == ["rome-it", "milan-it"]
    assert detail["members"][0]["websdr_station"] == {
        "id": "rome-it", "name": "Rome WebSDR", "location": "Rome, Italy",
        "latitude": 41.9028, "longitude": 12.4964, "status": "active",
    }  # fmt: skip

    share = client.post(f"{URL}/{cid}/shares", {"user_id": str(alice.pk), "permission": "edit"},
                        format="json")  # fmt: skip
    assert share.status_code == 201
    assert set(share.json()) == {"id", "constellation_id", "user_id", "permission", "shared_by",
                                 "shared_at"}  # fmt: skip
    shares = client.get(f"{URL}/{cid}/shares").json()
    assert shares["total"] == 1
    assert shares["data"][0]["user_info"] == {
        "email": "alice@example.com", "username": "alice", "display_name": "Alice Johnson",
    }  # fmt: skip
    updated = client.put(f"{URL}/{cid}/shares/{alice.pk}", {"permission": "read"}, format="json")
    assert updated.json()["permission"] == "read"
    assert "updated_at" in updated.json()

    listed = client_for(alice).get(URL, {"skip": 0, "limit": 50}).json()
    assert listed["pagination"] == {"skip": 0, "limit": 50, "total": 1}
    assert listed["data"][0]["permission"] == "read"
    assert listed["data"][0]["member_count"] == 2

    renamed = client.put(f"{URL}/{cid}", {"name": "Updated Northern Italy Coverage",
                                          "description": "Updated"}, format="json")  # fmt: skip
    assert renamed.json()["name"] == "Updated Northern Italy Coverage"
    assert client.delete(f"{URL}/{cid}/members/milan-it").status_code == 204
    assert client.delete(f"{URL}/{cid}/shares/{alice.pk}").status_code == 204
    assert client_for(alice).get(f"{URL}/{cid}").status_code == 404
    assert client.delete(f"{URL}/{cid}").status_code == 204
    assert not Constellation.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "name"), ({"name": ""}, "name"), ({"name": "   "}, "name"), ({"name": "x" * 256}, "name"),
     ({"name": 5, "description": ["no"]}, "description")],
)  # fmt: skip
def test_create_validation(owner, body, field):
    response = client_for(owner).post(URL, body, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert not Constellation.objects.exists()


def test_name_unique_per_owner(owner, alice):
    services.constellation_create(owner=owner, name="Net")
    assert_envelope(client_for(owner).post(URL, {"name": "Net"}, format="json"), 409, "CONFLICT")
    assert client_for(alice).post(URL, {"name": "Net"}, format="json").status_code == 201
    other = services.constellation_create(owner=owner, name="Other")
    response = client_for(owner).put(f"{URL}/{other.pk}", {"name": "Net"}, format="json")
    assert_envelope(response, 409, "CONFLICT", "name")
    other.refresh_from_db()
    assert other.name == "Other"


def test_member_validation(owner, stations):
    constellation = services.constellation_create(owner=owner, name="Net")
    client = client_for(owner)
    path = f"{URL}/{constellation.pk}/members"
    assert_envelope(client.post(path, {"websdr_station_id": "nowhere"}, format="json"), 400,
                    "VALIDATION_ERROR", "websdr_station_id")  # fmt: skip
    assert_envelope(client.post(path, {}, format="json"), 400, "VALIDATION_ERROR",
                    "websdr_station_id")  # fmt: skip
    client.post(path, {"websdr_station_id": "rome-it"}, format="json")
    assert_envelope(client.post(path, {"websdr_station_id": "rome-it"}, format="json"), 409,
                    "CONFLICT")  # fmt: skip
    assert ConstellationMember.objects.count() == 1
    assert_envelope(client.delete(f"{path}/milan-it"), 404, "NOT_FOUND")


def test_share_validation(owner, alice, db):
    viewer = make_user("vera", "viewer")
    constellation = services.constellation_create(owner=owner, name="Net")
    client = client_for(owner)
    path = f"{URL}/{constellation.pk}/shares"
    cases = [
        ({"user_id": str(uuid.uuid4()), "permission": "read"}, "user_id"),
        ({"user_id": "not-a-uuid", "permission": "read"}, "user_id"),
        ({"user_id": str(owner.pk), "permission": "read"}, "user_id"),
        ({"user_id": str(alice.pk), "permission": "admin"}, "permission"),
        ({"user_id": str(viewer.pk), "permission": "edit"}, "permission"),
        ({"permission": "read"}, "user_id"),
    ]
    for body, field in cases:
        assert_envelope(client.post(path, body, format="json"), 400, "VALIDATION_ERROR", field)
    assert not ConstellationShare.objects.exists()
    client.post(path, {"user_id": str(alice.pk), "permission": "read"}, format="json")
    assert_envelope(client.post(path, {"user_id": str(alice.pk), "permission": "edit"},
                                format="json"), 409, "CONFLICT")  # fmt: skip
    assert ConstellationShare.objects.get().permission == "read"
    assert_envelope(client.put(f"{path}/{alice.pk}", {"permission": "owner"}, format="json"),
                    400, "VALIDATION_ERROR", "permission")  # fmt: skip
    assert_envelope(client.put(f"{path}/{uuid.uuid4()}", {"permission": "read"}, format="json"),
                    404, "NOT_FOUND")  # fmt: skip


def test_admin_sharing_someone_elses_constellation_with_themselves_is_refused(owner, db):
    admin = make_user("ada", "admin")
    constellation = services.constellation_create(owner=owner, name="Net")
    response = client_for(admin).post(f"{URL}/{constellation.pk}/shares",
                                      {"user_id": str(admin.pk), "permission": "read"},
                                      format="json")  # fmt: skip
    assert_envelope(response, 400, "VALIDATION_ERROR", "user_id")


def _perms(user, constellation):
    return sorted(
        ConstellationUserObjectPermission.objects.filter(
            user=user, content_object=constellation
        ).values_list("permission__codename", flat=True)
    )


def test_object_permissions_follow_shares_and_are_cleaned_up(owner, alice):
    constellation = services.constellation_create(owner=owner, name="Net")
    assert _perms(owner, constellation) == [
        "change_constellation", "delete_constellation", "share_constellation",
        "view_constellation",
    ]  # fmt: skip
    services.share_create(constellation=constellation, user_id=alice.pk, permission="read",
                          shared_by=owner)  # fmt: skip
    assert _perms(alice, constellation) == ["view_constellation"]
    services.share_update(constellation=constellation, user_id=alice.pk, permission="edit")
    assert _perms(alice, constellation) == ["change_constellation", "view_constellation"]
    assert alice.has_perm("change_constellation", constellation)  # guardian agrees
    services.share_revoke(constellation=constellation, user_id=alice.pk)
    assert _perms(alice, constellation) == []

    services.share_create(constellation=constellation, user_id=alice.pk, permission="read",
                          shared_by=owner)  # fmt: skip
    get_user_model().objects.filter(pk=alice.pk).delete()  # the user goes
    assert not ConstellationShare.objects.exists()
    assert not ConstellationUserObjectPermission.objects.filter(user_id=alice.pk).exists()

    services.constellation_delete(constellation=constellation)  # the constellation goes
    assert not ConstellationUserObjectPermission.objects.exists()


def test_list_pagination_and_bad_params(owner):
    for index in range(5):
        services.constellation_create(owner=owner, name=f"Net {index}")
    client = client_for(owner)
    body = client.get(URL, {"skip": 1, "limit": 2}).json()
    assert [item["name"] for item in body["data"]] == ["Net 3", "Net 2"]
    assert body["pagination"] == {"skip": 1, "limit": 2, "total": 5}
    for params, field in [({"skip": -1}, "skip"), ({"limit": 0}, "limit"),
                          ({"limit": 1001}, "limit"), ({"skip": "a"}, "skip")]:  # fmt: skip
        assert_envelope(client.get(URL, params), 400, "VALIDATION_ERROR", field)


def test_list_query_count_does_not_grow_with_page_size(owner, alice, stations):
    for index in range(30):
        constellation = services.constellation_create(owner=owner, name=f"Net {index}")
        services.member_add(constellation=constellation, station_id="rome-it", added_by=owner)
        services.share_create(constellation=constellation, user_id=alice.pk, permission="read",
                              shared_by=owner)  # fmt: skip
    client = client_for(alice)
    counts = []
    for limit in (1, 10, 30):
        client.get(URL, {"limit": limit})  # warm
        # Count executions directly: the test client's request_started signal
        # resets connection.queries, so CaptureQueriesContext would see none.
        executed: list[str] = []

        def count(run, sql, *rest, executed=executed):
            executed.append(sql)
            return run(sql, *rest)

        with connection.execute_wrapper(count):
            response = client.get(URL, {"limit": limit})
        assert len(response.json()["data"]) == limit
        counts.append(len(executed))
    assert counts[0] == counts[1] == counts[2]
    # the user with their role (JWT), the page's ids, the page, the count
    assert counts[0] == 4, executed


def test_list_total_counts_group_grants_once(owner, alice):
    from django.contrib.auth.models import Group
    from guardian.shortcuts import assign_perm

    both, via_group, _hidden = (
        services.constellation_create(owner=owner, name=name) for name in ("A", "B", "C")
    )
    services.share_create(constellation=both, user_id=alice.pk, permission="read",
                          shared_by=owner)  # fmt: skip
    team = Group.objects.create(name="night shift")
    alice.groups.add(team)
    for constellation in (both, via_group):
        assign_perm("view_constellation", team, constellation)
    body = client_for(alice).get(URL).json()
    assert sorted(item["name"] for item in body["data"]) == ["A", "B"]
    assert body["pagination"]["total"] == 2
    assert client_for(owner).get(URL).json()["pagination"]["total"] == 3


def test_unknown_and_malformed_ids_are_404(owner):
    client = client_for(owner)
    assert_envelope(client.get(f"{URL}/{uuid.uuid4()}"), 404, "NOT_FOUND")
    assert_envelope(client.get(f"{URL}/not-a-uuid"), 404, "NOT_FOUND")


def test_user_directory(owner, alice, viewer_user):
    client = client_for(viewer_user)
    body = client.get("/api/v1/users", {"search": "ali"}).json()
    assert body["data"] == [
        {"id": str(alice.pk), "username": "alice", "display_name": "Alice Johnson"}
    ]
    assert body["pagination"]["total"] == 1
    everyone = client.get("/api/v1/users").json()
    assert [u["username"] for u in everyone["data"]] == ["alice", "olga", "vera"]
    assert "email" not in everyone["data"][0]
    assert_envelope(client.get("/api/v1/users", {"search": "x" * 151}), 400, "VALIDATION_ERROR",
                    "search")  # fmt: skip


def test_user_directory_needs_auth(anon_client, db):
    assert_envelope(anon_client.get("/api/v1/users"), 401, "AUTHENTICATION_REQUIRED")
