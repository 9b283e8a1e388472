"""The console in a real browser: headless Debian chromium (selenium + chromium-driver)
against a live daphne on PostgreSQL and Redis.

HEIMDALL_SCREENSHOTS=<dir> saves a screenshot of every page there (`make screenshots`
writes docs/console/, shown in docs/console.md).
"""

import json
import os
import random
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken
from selenium.webdriver.support.ui import Select

from apps.anomalies.models import AnomalyEvent
from apps.constellations import services as constellation_services
from apps.core.partitioning import ensure_partitions
from apps.core.timeutil import utc_now
from apps.ml.models import MLModel
from apps.stations.models import Station
from apps.training.models import TrainingJob, TrainingMetric
from tests.dashboard import browser
from tests.dashboard import data as factories
from tests.helpers import PASSWORD, client_for, committed_dataset, database_url, make_user
from tests.ml.factories import registered

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(not browser.browser_available(), reason="needs chromium + chromedriver"),
]
SCREENSHOTS = os.environ.get("HEIMDALL_SCREENSHOTS")
MARKERS = ("css selector", "path.station-marker")


@pytest.fixture(scope="session")
def static_root(tmp_path_factory):
    target = tmp_path_factory.mktemp("static")
    browser.collect_static(target, dict(os.environ))
    return target


@pytest.fixture
def server(static_root, tmp_path, settings):
    from django.conf import global_settings

    # The server checks passwords with the real hashers (the suite's MD5 is not among them).
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir(exist_ok=True)
    settings.STORAGES["default"]["OPTIONS"]["location"] = str(artifacts)
    with browser.daphne(
        database_url(connection.settings_dict), static_root=static_root, artifact_root=artifacts
    ) as base:
        yield base


@pytest.fixture
def driver():
    driver = browser.chromium()
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def api(base: str, path: str, user, body=None, method=None):
    token = str(RefreshToken.for_user(user).access_token)
    request = urllib.request.Request(
        f"{base}{path}", data=json.dumps(body).encode() if body is not None else None,
        method=method or ("POST" if body is not None else "GET"),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status, json.loads(response.read() or b"null")


def shot(driver, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SCREENSHOTS) / f"{name}.png"))


def maps_drawn(driver) -> bool:
    """Every map on the page has its offline basemap (country outlines) drawn."""
    return driver.execute_script(
        "const maps = [...document.querySelectorAll('.map')];"
        "const outline = '.leaflet-overlay-pane path:not(.station-marker)';"
        "return maps.every(m => m.querySelector(outline));"
    )


def no_js_errors(driver, where: str) -> None:
    errors = browser.console_errors(driver)
    assert not errors, (where, errors)


def chart_points(driver, element_id: str) -> int:
    return driver.execute_script(
        "const c = document.getElementById(arguments[0]).heimdallChart;"
        "return c ? c.data[1].filter(v => v !== null && v > 0).length : -1;",
        element_id,
    )


def demo_world(operator, admin):
    """Stations, an hour of detections with anomalies, a constellation, a finished job
    with per-epoch metrics and a classifier: what an operator's console shows."""
    call_command("load_demo_stations", verbosity=0)
    Station.objects.filter(pk__in=list(Station.objects.values_list("pk", flat=True)[:2])).update(
        status="maintenance"
    )
    stations = list(Station.objects.filter(status="active").values_list("pk", flat=True))
    rng = random.Random(7)
    now = utc_now()
    bands = [3_573_000, 7_074_000, 10_136_000, 14_074_000, 14_230_000, 18_100_000, 21_074_000]
    items = [
        factories.detection(
            now - timedelta(seconds=rng.uniform(0, 3600)),
            station_id=rng.choice(stations),
            frequency_hz=rng.choice(bands) + rng.randint(-800, 800),
            signal_strength_db=rng.uniform(-110, -40),
            anomaly_score=round(rng.random() ** 3, 3),
        )
        for _ in range(600)
    ]
    factories.ingest(*items)
    constellation = constellation_services.constellation_create(
        owner=operator, name="North Sea HF", description="HF receivers around the North Sea"
    )
    for station_id in stations[:4]:
        constellation_services.member_add(
            constellation=constellation, station_id=station_id, added_by=operator
        )
    job = TrainingJob.objects.create(
        job_name="deepsets-baseline",
        config={"epochs": 12, "model_architecture": "deepsets"},
        total_epochs=12,
        current_epoch=12,
        progress_percent=100.0,
        status="completed",
        step="done",
        message="Model registered",
        model_architecture="deepsets",
        train_loss=0.41,
        val_loss=0.47,
        learning_rate=1e-5,
        created_by=operator,
    )
    days = {now.date(), (now - timedelta(hours=1)).date()}
    ensure_partitions(TrainingMetric._meta.db_table, days)
    for epoch in range(1, 13):
        TrainingMetric.objects.create(
            training_job=job,
            epoch=epoch,
            timestamp=now - timedelta(minutes=13 - epoch),
            train_loss=2.0 / epoch + 0.25,
            val_loss=2.1 / epoch + 0.3,
            train_accuracy=min(0.95, 0.4 + epoch * 0.05),
            val_accuracy=min(0.9, 0.35 + epoch * 0.05),
            learning_rate=1e-3 * (0.5 ** (epoch // 3)),
            phase="train",
        )
    registered("signal_classification", name="convnext-tiny")
    return constellation, job


def test_every_page_in_chromium_without_js_errors(server, driver):
    operator = make_user("otto", "operator")
    admin = make_user("ada", "admin", display_name="Ada")
    constellation, job = demo_world(operator, admin)
    event = AnomalyEvent.objects.order_by("-anomaly_score").first()
    model = MLModel.objects.get()

    driver.get(f"{server}/stations")  # anonymous: sent to log in
    assert "/login?next=/stations" in driver.current_url
    shot(driver, "login")
    no_js_errors(driver, "login")
    browser.log_in(driver, server, "ada", PASSWORD)

    # Overview: the detections chart has points; health arrives by htmx.
    browser.wait_for(lambda: chart_points(driver, "per-minute-chart") > 0)
    browser.wait_for(lambda: driver.find_elements("id", "overall-health"))
    browser.wait_for(lambda: driver.find_element("id", "live-state").text == "live")
    shot(driver, "overview")
    no_js_errors(driver, "overview")

    # Stations: one marker per station drawn by Leaflet, coloured by status.
    driver.get(f"{server}/stations")
    count = Station.objects.count()
    browser.wait_for(lambda: len(driver.find_elements("css selector", "path.station-marker"))
                     == count)  # fmt: skip
    assert len(driver.find_elements("css selector", "path.station-maintenance")) == 2
    browser.wait_for(
        lambda: driver.find_elements(
            "css selector", ".leaflet-overlay-pane path:not(.station-marker)"
        )
    )  # the basemap
    shot(driver, "stations")
    no_js_errors(driver, "stations")

    station_id = Station.objects.filter(status="active").first().pk
    driver.get(f"{server}/stations/{station_id}")
    browser.wait_for(lambda: chart_points(driver, "hourly-chart") > 0)
    browser.wait_for(lambda: maps_drawn(driver))
    shot(driver, "station")
    no_js_errors(driver, "station")

    for name, path in [
        ("station-edit", f"/stations/{station_id}/edit"),
        ("anomalies", "/anomalies?acknowledged=false"),
        ("anomaly", f"/anomalies/{event.pk}"),
        ("constellations", "/constellations"),
        ("constellation", f"/constellations/{constellation.pk}"),
        ("training", "/training"),
        ("job-form", "/training/jobs/new"),
        ("job", f"/training/jobs/{job.pk}"),
        ("datasets", "/training/datasets"),
        ("models", "/models"),
        ("model", f"/models/{model.pk}"),
        ("api-docs", "/api/v1/docs/"),
    ]:
        driver.get(server + path)
        if name == "constellation":
            browser.wait_for(lambda: len(driver.find_elements(*MARKERS)) == 4)
        if name == "job":
            browser.wait_for(lambda: chart_points(driver, "loss-chart") == 12)
        browser.wait_for(lambda: maps_drawn(driver))
        if name == "api-docs":
            browser.wait_for(lambda: driver.find_elements("css selector", ".opblock"), 20)
        shot(driver, name)
        no_js_errors(driver, name)

    # Swagger UI's "Try it out" calls go with the session (and its CSRF token for writes).
    me = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/api/v1/auth/me', {credentials: 'same-origin'}).then(r => r.json()).then(done);"
    )
    assert me["username"] == "ada"

    # The live page, with detections arriving through the API.
    driver.get(f"{server}/live")
    browser.wait_for(lambda: driver.find_element("id", "ws-state").text == "live")
    for _ in range(15):
        now = utc_now()
        api(server, "/api/v1/signals/detections", operator, {"detections": [
            factories.detection(now, station_id=station_id,
                                frequency_hz=random.randint(1_000_000, 29_000_000),
                                signal_strength_db=random.uniform(-110, -30),
                                anomaly_score=random.random() ** 4)
            for _ in range(40)]})  # fmt: skip
    browser.wait_for(lambda: int(driver.find_element("id", "total").text) >= 600)
    shot(driver, "live")
    no_js_errors(driver, "live")

    driver.find_element("css selector", ".who button").click()  # log out
    browser.wait_for(lambda: "/login" in driver.current_url)
    no_js_errors(driver, "logout")


def test_live_page_shows_an_ingested_detection_within_two_seconds(server, driver):
    import time

    factories.station("twente-nl")
    operator = make_user("otto", "operator")
    make_user("vera", "viewer")
    browser.log_in(driver, server, "vera", PASSWORD, "/live")
    browser.wait_for(lambda: driver.find_element("id", "ws-state").text == "live")
    item = factories.detection(utc_now(), frequency_hz=7_074_000, anomaly_score=0.2)
    started = time.monotonic()
    status, _ = api(server, "/api/v1/signals/detections", operator, {"detections": [item]})
    assert status == 201
    browser.wait_for(lambda: driver.find_elements("css selector", f'tr[data-id="{item["id"]}"]'),
                     timeout=2.0)  # fmt: skip
    assert time.monotonic() - started < 2.0
    row = driver.find_element("css selector", f'tr[data-id="{item["id"]}"]').text
    assert "twente-nl" in row and "7.0740 MHz" in row
    assert not driver.find_element("id", "dropped").is_displayed()

    # A burst beyond what one frame takes (8,000 in one task, the buffer holds 5,000): the
    # oldest are dropped and the page says so; so are the server's own drops.
    driver.execute_script(
        """
        const ws = window.heimdallLive.socket.ws;
        const base = JSON.parse(arguments[0]);
        for (let i = 0; i < 8000; i++) {
          ws.onmessage({data: JSON.stringify({type: "signal_detection",
                                              data: {...base, id: "burst-" + i}})});
        }
        ws.onmessage({data: JSON.stringify({type: "messages_dropped", count: 7})});
    """,
        json.dumps({**item, "detection_timestamp": item["detection_timestamp"]}),
    )
    notice = browser.wait_for(
        lambda: (
            driver.find_element("id", "dropped").is_displayed()
            and driver.find_element("id", "dropped").text
        )
    )
    assert "3000 dropped by this page" in notice and "7 dropped by the server" in notice
    browser.wait_for(lambda: driver.find_elements("css selector", 'tr[data-id="burst-7999"]'))
    no_js_errors(driver, "live")


def test_acknowledging_from_the_page_changes_it_in_the_api(server, driver):
    factories.station("twente-nl")
    operator = make_user("otto", "operator")
    factories.ingest(factories.detection(utc_now(), anomaly_score=0.93))
    event = AnomalyEvent.objects.get()
    browser.log_in(driver, server, "otto", PASSWORD, f"/anomalies/{event.pk}")
    driver.find_element("id", "id_notes").send_keys("Carrier from the club station.")
    driver.find_element("id", "ack-submit").click()
    browser.wait_for(lambda: driver.find_elements("css selector", '[data-acknowledged="true"]'))
    status, body = api(server, f"/api/v1/anomalies/{event.pk}", operator)
    assert status == 200
    assert body["acknowledged"] is True
    assert body["notes"] == "Carrier from the club station."
    assert body["acknowledged_by"] == str(operator.pk)
    no_js_errors(driver, "acknowledge")


def test_training_monitor_shows_epochs_advancing(server, driver):
    operator = make_user("otto", "operator")
    dataset_id = committed_dataset(client_for(operator), 300)
    browser.log_in(driver, server, "otto", PASSWORD, "/training/jobs/new")
    driver.find_element("id", "id_job_name").send_keys("watched in the browser")
    for name, value in (("epochs", "4"), ("warmup_epochs", "0"), ("batch_size", "32"),
                        ("num_workers", "0")):  # fmt: skip
        field = driver.find_element("id", f"id_{name}")
        field.clear()
        field.send_keys(value)
    Select(driver.find_element("id", "id_dataset_id")).select_by_value(dataset_id)
    driver.find_element("id", "job-submit").click()
    browser.wait_for(lambda: "/training/jobs/" in driver.current_url
                     and "/new" not in driver.current_url)  # fmt: skip
    seen = set()

    def progressed():
        seen.add(int(driver.find_element("id", "job-epoch").text))
        return driver.find_element("id", "job-status").text in ("completed", "failed")

    browser.wait_for(progressed, timeout=180, step=0.02)
    assert driver.find_element("id", "job-status").text == "completed"
    # The page saw the epochs advance while the job ran (not only the final state).
    assert len(seen & {1, 2, 3}) >= 2, seen
    browser.wait_for(lambda: chart_points(driver, "loss-chart") == 4)
    job = TrainingJob.objects.get()
    assert (job.status, job.current_epoch) == ("completed", 4)
    no_js_errors(driver, "monitor")
