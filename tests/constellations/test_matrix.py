"""OWASP API1 (broken object-level authorization): every constellation, member and share
endpoint × {anonymous, viewer, another operator, read share, edit share, owner, admin}.

For every refused write, the database is shown unchanged: row counts and the
objects as they were.
"""

import pytest
from rest_framework.test import APIClient

from apps.constellations import services
from apps.constellations.models import (
    Constellation,
    ConstellationMember,
    ConstellationShare,
    ConstellationUserObjectPermission,
)
from tests.helpers import client_for, make_user
from tests.stations.factories import StationFactory

ACTORS = ["anonymous", "viewer", "other", "reader", "editor", "owner", "admin"]

# endpoint → (method, path template, body, expected status per actor)
MATRIX = {
    "list": ("get", "/api/v1/constellations", None,
             [401, 200, 200, 200, 200, 200, 200]),
    "create": ("post", "/api/v1/constellations", {"name": "New one", "description": "d"},
               [401, 403, 201, 201, 201, 201, 201]),
    "detail": ("get", "/api/v1/constellations/{c}", None,
               [401, 404, 404, 200, 200, 200, 200]),
    "update": ("put", "/api/v1/constellations/{c}", {"name": "Renamed", "description": "x"},
               [401, 404, 404, 403, 200, 200, 200]),
    "delete": ("delete", "/api/v1/constellations/{c}", None,
               [401, 404, 404, 403, 403, 204, 204]),
    "member_add": ("post", "/api/v1/constellations/{c}/members",
                   {"websdr_station_id": "torino-it"},
                   [401, 404, 404, 403, 201, 201, 201]),
    "member_remove": ("delete", "/api/v1/constellations/{c}/members/giaveno-it", None,
                      [401, 404, 404, 403, 204, 204, 204]),
    "shares_list": ("get", "/api/v1/constellations/{c}/shares", None,
                    [401, 404, 404, 403, 403, 200, 200]),
    "share_create": ("post", "/api/v1/constellations/{c}/shares",
                     {"user_id": "{carol}", "permission": "read"},
                     [401, 404, 404, 403, 403, 201, 201]),
    "share_update": ("put", "/api/v1/constellations/{c}/shares/{reader}", {"permission": "edit"},
                     [401, 404, 404, 403, 403, 200, 200]),
    "share_revoke": ("delete", "/api/v1/constellations/{c}/shares/{reader}", None,
                     [401, 404, 404, 403, 403, 204, 204]),
}  # fmt: skip
CASES = [
    (endpoint, actor, statuses[index])
    for endpoint, (_, _, _, statuses) in MATRIX.items()
    for index, actor in enumerate(ACTORS)
]
ERROR_CODES = {401: "AUTHENTICATION_REQUIRED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}


@pytest.fixture
def world(db):
    for station_id in ("giaveno-it", "torino-it", "milano-it"):
        StationFactory(id=station_id, frequency_min=144_000_000, frequency_max=440_000_000)
    users = {
        "viewer": make_user("vic", "viewer"),
        "other": make_user("oscar", "operator"),
        "reader": make_user("rita", "operator"),
        "editor": make_user("eddie", "operator"),
        "owner": make_user("olga", "operator"),
        "admin": make_user("ada", "admin"),
        "carol": make_user("carol", "operator"),
    }
    constellation = services.constellation_create(
        owner=users["owner"], name="Northern Italy Coverage", description="VHF"
    )
    services.member_add(constellation=constellation, station_id="giaveno-it",
                        added_by=users["owner"])  # fmt: skip
    services.share_create(constellation=constellation, user_id=users["reader"].pk,
                          permission="read", shared_by=users["owner"])  # fmt: skip
    services.share_create(constellation=constellation, user_id=users["editor"].pk,
                          permission="edit", shared_by=users["owner"])  # fmt: skip
    # Someone else's constellation, which nobody in the matrix but its owner and admins may see.
    services.constellation_create(owner=users["other"], name="Oscar's own")
    return {"users": users, "constellation": constellation}


def snapshot(constellation_id) -> dict:
    constellation = Constellation.objects.filter(pk=constellation_id).first()
    return {
        "constellations": Constellation.objects.count(),
        "members": ConstellationMember.objects.count(),
        "shares": ConstellationShare.objects.count(),
        "object_permissions": ConstellationUserObjectPermission.objects.count(),
        "object": constellation
        and (constellation.name, constellation.description, constellation.updated_at),
        "member_stations": sorted(
            ConstellationMember.objects.filter(constellation_id=constellation_id).values_list(
                "station_id", flat=True
            )
        ),
        "share_rows": sorted(
            ConstellationShare.objects.filter(constellation_id=constellation_id).values_list(
                "user__username", "permission"
            )
        ),
    }


def fill(template, world):
    users = world["users"]
    values = {"c": world["constellation"].pk, "reader": users["reader"].pk,
              "carol": users["carol"].pk}  # fmt: skip
    if isinstance(template, dict):
        return {key: fill(value, world) for key, value in template.items()}
    return template.format(**values) if isinstance(template, str) else template


@pytest.mark.parametrize(("endpoint", "actor", "expected"), CASES)
def test_matrix(world, endpoint, actor, expected):
    method, path, body, _ = MATRIX[endpoint]
    client = APIClient() if actor == "anonymous" else client_for(world["users"][actor])
    before = snapshot(world["constellation"].pk)

    response = getattr(client, method)(fill(path, world), fill(body, world), format="json")

    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response.json()["error"]["code"] == ERROR_CODES[expected]
        assert snapshot(world["constellation"].pk) == before  # nothing changed


@pytest.mark.parametrize("actor", ACTORS[1:])
def test_list_shows_exactly_what_the_user_owns_or_was_shared(world, actor):
    names = {
        item["name"]: item
        for item in client_for(world["users"][actor]).get("/api/v1/constellations").json()["data"]
    }
    expected = {
        "viewer": set(),
        "other": {"Oscar's own"},
        "reader": {"Northern Italy Coverage"},
        "editor": {"Northern Italy Coverage"},
        "owner": {"Northern Italy Coverage"},
        "admin": {"Northern Italy Coverage", "Oscar's own"},
    }[actor]
    assert set(names) == expected
    if "Northern Italy Coverage" in names:
        item = names["Northern Italy Coverage"]
        assert item["member_count"] == 1
        assert item["permission"] == ("read" if actor == "reader" else "edit")
        assert item["owner_id"] == str(world["users"]["owner"].pk)


def test_viewer_with_a_read_share_sees_but_cannot_edit(world):
    viewer = world["users"]["viewer"]
    constellation = world["constellation"]
    services.share_create(constellation=constellation, user_id=viewer.pk, permission="read",
                          shared_by=world["users"]["owner"])  # fmt: skip
    client = client_for(viewer)
    detail = client.get(f"/api/v1/constellations/{constellation.pk}")
    assert detail.status_code == 200
    assert detail.json()["permission"] == "read"
    before = snapshot(constellation.pk)
    response = client.put(f"/api/v1/constellations/{constellation.pk}", {"name": "x"},
                          format="json")  # fmt: skip
    assert response.status_code == 403
    assert snapshot(constellation.pk) == before
