"""Every console page for every role (Django's test client, real sessions): 200, a redirect
to the log-in page, or 403; write controls only where the role may write; refused POSTs
change nothing, accepted ones go through the same services as the API."""

from datetime import timedelta

import pytest
from django.test import Client

from apps.anomalies.models import AnomalyEvent
from apps.constellations import services as constellation_services
from apps.core.timeutil import utc_now
from apps.ml.models import MLModel
from apps.stations.models import Station
from apps.training.models import SyntheticDataset, TrainingJob
from tests.dashboard import data as factories
from tests.helpers import make_user
from tests.ml.factories import registered

pytestmark = pytest.mark.django_db
ROLES = ["anonymous", "collector", "viewer", "operator", "admin"]


@pytest.fixture
def users(db):
    return {
        "collector": make_user("collector-1", "collector"),
        "viewer": make_user("vera", "viewer"),
        "operator": make_user("otto", "operator"),
        "admin": make_user("ada", "admin"),
    }


@pytest.fixture
def clients(users):
    found = {"anonymous": Client()}
    for role, user in users.items():
        client = Client()
        client.force_login(user, backend=factories.SESSION_BACKEND)
        found[role] = client
    return found


@pytest.fixture
def world(users):
    """One of everything a page shows."""
    now = utc_now()
    factories.station("twente-nl", latitude=52.2, longitude=6.85)
    factories.station("hackgreen-uk", latitude=53.0, longitude=-2.5, status="inactive")
    factories.ingest(
        factories.detection(now - timedelta(minutes=3), anomaly_score=0.97),
        factories.detection(now - timedelta(minutes=2), anomaly_score=0.1),
    )
    event = AnomalyEvent.objects.get()
    constellation = constellation_services.constellation_create(
        owner=users["operator"], name="Benelux", description="HF receivers"
    )
    constellation_services.member_add(
        constellation=constellation, station_id="twente-nl", added_by=users["operator"]
    )
    dataset = SyntheticDataset.objects.create(
        name="loc", num_samples=100, status="ready", parameters={"num_samples": 100}
    )
    job = TrainingJob.objects.create(
        job_name="run-1", config={"epochs": 3}, total_epochs=3, model_architecture="deepsets",
        status="running", current_epoch=1, progress_percent=33.3, created_by=users["operator"],
    )  # fmt: skip
    model = registered("signal_classification", name="convnext-small")
    return {"event": event, "constellation": constellation, "dataset": dataset, "job": job,
            "model": model}  # fmt: skip


def pages(world) -> list[tuple[str, str]]:
    """(url, the permission that reads it)."""
    return [
        ("/", "statistics:read"),
        ("/parts/health", "statistics:read"),
        ("/live", "signals:read"),
        ("/stations", "stations:read"),
        ("/stations/twente-nl", "stations:read"),
        ("/stations/new", "stations:write"),
        ("/stations/twente-nl/edit", "stations:write"),
        ("/anomalies", "anomalies:read"),
        (f"/anomalies/{world['event'].pk}", "anomalies:read"),
        ("/constellations", "constellations:read"),
        (f"/constellations/{world['constellation'].pk}", "constellations:view"),
        ("/training", "training:read"),
        ("/training/jobs/new", "training:write"),
        (f"/training/jobs/{world['job'].pk}", "training:read"),
        ("/training/datasets", "training:read"),
        ("/models", "models:read"),
        (f"/models/{world['model'].pk}", "models:read"),
    ]


def expected_status(role: str, permission: str) -> int:
    from apps.accounts.roles import ROLE_PERMISSIONS, Role

    if role == "anonymous":
        return 302
    if permission == "constellations:view":  # the owner is the operator; admins see all
        if "constellations:read" not in ROLE_PERMISSIONS[Role(role)]:
            return 403
        return 200 if role in ("operator", "admin") else 404
    return 200 if permission in ROLE_PERMISSIONS[Role(role)] else 403


@pytest.mark.parametrize("role", ROLES)
def test_every_page_for_every_role(clients, world, role):
    for url, permission in pages(world):
        response = clients[role].get(url)
        wanted = expected_status(role, permission)
        assert response.status_code == wanted, (role, url, response.status_code)
        if wanted == 302:
            assert response["Location"] == f"/login?next={url}"
        if wanted == 200:
            assert response["Content-Type"].startswith("text/html")
            if not url.startswith("/parts/"):  # a fragment has no page frame
                assert b'<span class="role" data-role="' + role.encode() in response.content
        # Paths work with and without the trailing slash.
        if url != "/":
            assert clients[role].get(url + "/").status_code == wanted, (role, url + "/")


def test_viewer_shared_constellation_is_read_only(clients, users, world):
    constellation = world["constellation"]
    constellation_services.share_create(
        constellation=constellation, user_id=users["viewer"].pk, permission="read",
        shared_by=users["operator"],
    )  # fmt: skip
    html = clients["viewer"].get(f"/constellations/{constellation.pk}").content.decode()
    assert "twente-nl" in html and 'id="member-add"' not in html and 'id="shares"' not in html
    response = clients["viewer"].post(
        f"/constellations/{constellation.pk}",
        {"action": "add_member", "websdr_station_id": "hackgreen-uk"},
    )
    assert response.status_code == 403
    assert list(constellation.members.values_list("station_id", flat=True)) == ["twente-nl"]


WRITE_CONTROLS = [
    # (page, marker, roles that see it)
    ("/stations", 'id="station-create"', {"admin"}),
    ("/stations/twente-nl", 'id="station-edit"', {"admin"}),
    ("event", 'id="ack-form"', {"operator", "admin"}),
    ("/training", 'id="job-create"', {"operator", "admin"}),
    ("job", 'id="cancel"', {"operator", "admin"}),
    ("/training/datasets", 'id="generate-form"', {"operator", "admin"}),
    ("model", 'id="activate"', {"admin"}),
    ("/constellations", 'id="constellation-create"', {"operator", "admin"}),
    ("constellation", 'id="member-add"', {"operator", "admin"}),
    ("constellation", 'id="share-add"', {"operator", "admin"}),
]


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_write_controls_only_where_allowed(clients, world, role):
    targets = {
        "event": f"/anomalies/{world['event'].pk}",
        "job": f"/training/jobs/{world['job'].pk}",
        "model": f"/models/{world['model'].pk}",
        "constellation": f"/constellations/{world['constellation'].pk}",
    }
    for page, marker, allowed in WRITE_CONTROLS:
        response = clients[role].get(targets.get(page, page))
        if response.status_code == 404:  # a constellation the viewer cannot see at all
            assert role == "viewer" and page == "constellation"
            continue
        assert response.status_code == 200, (role, page)
        assert (marker in response.content.decode()) == (role in allowed), (role, page, marker)


# --- refused writes change nothing -------------------------------------------------------------


def _state(world):
    event, job, model = world["event"], world["job"], world["model"]
    return {
        "event": AnomalyEvent.objects.values("acknowledged", "notes").get(pk=event.pk),
        "station": Station.objects.values("name", "status").get(pk="twente-nl"),
        "stations": Station.objects.count(),
        "jobs": list(TrainingJob.objects.values_list("pk", "status").order_by("pk")),
        "datasets": SyntheticDataset.objects.count(),
        "model": MLModel.objects.values("status").get(pk=model.pk),
        "constellations": list(world["constellation"].members.values_list("station_id", flat=True)),
        "constellation_count": type(world["constellation"]).objects.count(),
        "job": TrainingJob.objects.values("status").get(pk=job.pk),
    }


def refused_posts(world):
    station_form = {"name": "Hijacked", "url": "http://x.org/", "latitude": "1",
                    "longitude": "1", "frequency_min": "0", "frequency_max": "10",
                    "status": "inactive"}  # fmt: skip
    return [
        # (role, url, data, status)
        ("anonymous", f"/anomalies/{world['event'].pk}", {"notes": "x"}, 302),
        ("collector", f"/anomalies/{world['event'].pk}", {"notes": "x"}, 403),
        ("viewer", f"/anomalies/{world['event'].pk}", {"notes": "x"}, 403),
        ("viewer", "/stations/twente-nl/edit", station_form, 403),
        ("operator", "/stations/twente-nl/edit", station_form, 403),
        ("operator", "/stations/new", {**station_form, "id": "new-one"}, 403),
        ("viewer", "/training/jobs/new", {"job_name": "x", "epochs": "2"}, 403),
        ("viewer", f"/training/jobs/{world['job'].pk}", {}, 403),
        ("viewer", "/training/datasets", {"name": "d", "num_samples": "10"}, 403),
        ("operator", f"/models/{world['model'].pk}", {}, 403),
        ("viewer", f"/models/{world['model'].pk}", {}, 403),
        ("viewer", "/constellations", {"name": "mine"}, 403),
        ("viewer", f"/constellations/{world['constellation'].pk}",
         {"action": "add_member", "websdr_station_id": "hackgreen-uk"}, 404),
        ("admin", "/live", {}, 405),
        ("operator", "/", {}, 405),
    ]  # fmt: skip


def test_refused_posts_change_nothing(clients, world):
    for role, url, data, status in refused_posts(world):
        before = _state(world)
        response = clients[role].post(url, data)
        assert response.status_code == status, (role, url, response.status_code)
        assert _state(world) == before, (role, url)


def test_other_operators_constellation_is_not_found_and_unchanged(clients, users, world):
    other = make_user("olga", "operator")
    client = Client()
    client.force_login(other, backend=factories.SESSION_BACKEND)
    url = f"/constellations/{world['constellation'].pk}"
    assert client.get(url).status_code == 404
    before = _state(world)
    assert client.post(url, {"action": "remove_member",
                             "websdr_station_id": "twente-nl"}).status_code == 404  # fmt: skip
    assert _state(world) == before


def test_csrf_is_enforced_on_console_posts(users, world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["operator"], backend=factories.SESSION_BACKEND)
    response = client.post(f"/anomalies/{world['event'].pk}", {"notes": "no token"})
    assert response.status_code == 403
    assert AnomalyEvent.objects.get(pk=world["event"].pk).acknowledged is False


def test_api_docs_tell_anonymous_visitors_how_to_log_in(clients):
    anonymous = clients["anonymous"].get("/api/v1/docs/")
    assert anonymous.status_code == 401
    html = anonymous.content.decode()
    assert 'href="/login?next=/api/v1/docs/"' in html
    assert "POST /api/v1/auth/login" in html or "/api/v1/auth/login" in html
    signed_in = clients["viewer"].get("/api/v1/docs/")
    assert signed_in.status_code == 200
    body = signed_in.content.decode()
    assert "Signed in as <strong>vera</strong>" in body and "swagger-ui" in body
    assert "X-CSRFTOKEN" in body.upper()  # "Try it out" sends the session's CSRF token


def test_login_page_and_logout(users):
    client = Client()
    page = client.get("/login")
    assert page.status_code == 200 and b"changepassword admin" in page.content
    from tests.helpers import PASSWORD

    wrong = client.post("/login", {"username": "vera", "password": "nope"})
    assert wrong.status_code == 200 and b"correct username and password" in wrong.content
    right = client.post("/login?next=/anomalies", {"username": "vera", "password": PASSWORD,
                                                   "next": "/anomalies"})  # fmt: skip
    assert right.status_code == 302 and right["Location"] == "/anomalies"
    assert client.get("/").status_code == 200
    assert client.get("/logout").status_code == 405  # logging out is a POST (CSRF-protected)
    out = client.post("/logout")
    assert out.status_code == 302 and out["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_list_pages_query_count_does_not_grow_with_rows(
    clients, users, django_assert_max_num_queries
):
    """No query per row: 30 constellations, 60 anomalies list in a fixed number of queries."""
    from datetime import timedelta

    factories.station("twente-nl")
    factories.ingest(*[factories.detection(utc_now() - timedelta(seconds=i), anomaly_score=0.9)
                       for i in range(60)])  # fmt: skip
    for n in range(30):
        owner = make_user(f"owner{n}", "operator")
        constellation_services.constellation_create(owner=owner, name=f"c{n}")
    for url, budget in (("/constellations", 12), ("/anomalies", 12), ("/stations", 12)):
        with django_assert_max_num_queries(budget):
            assert clients["admin"].get(url).status_code == 200
