"""`make run`'s world in a real browser: embedded mode (SQLite under var/, in-memory channel
layer, in-process workers and collectors), nothing configured, no internet. The banner's
URL and password log in, and the live page shows the simulated demo stations' detections."""

import os
import subprocess
import sys

import pytest

from tests.dashboard import browser

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not browser.browser_available(), reason="needs chromium + chromedriver"),
]


def _embedded_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HEIMDALL_"))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return {**env, "HEIMDALL_VAR_DIR": str(tmp_path / "var"),
            "HEIMDALL_STATIC_ROOT": str(tmp_path / "static")}  # fmt: skip


def test_make_run_console_in_a_browser(tmp_path):
    env = _embedded_env(tmp_path)
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput", "--verbosity", "0"],
                    ["load_demo_stations"]):  # fmt: skip
        done = subprocess.run(manage + command, cwd=browser.ROOT, env=env, capture_output=True,
                              text=True, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
    banner = subprocess.run([*manage, "ensure_admin", "--banner", "http://127.0.0.1:8000"],
                            cwd=browser.ROOT, env=env, capture_output=True, text=True,
                            check=True).stdout  # fmt: skip
    password = next(line for line in banner.splitlines() if "Password" in line).split()[-1]

    driver = browser.chromium()
    try:
        with browser.daphne(
            "", static_root=tmp_path / "static", artifact_root=tmp_path / "var",
            extra_env={"HEIMDALL_EMBEDDED_COLLECTORS": "true"},
            base_env=env,
        ) as base:  # fmt: skip
            browser.log_in(driver, base, "admin", password, "/live")
            browser.wait_for(lambda: driver.find_element("id", "ws-state").text == "live", 20)
            # The embedded collectors' simulated detections reach the waterfall.
            browser.wait_for(lambda: int(driver.find_element("id", "total").text) > 0, 60)
            assert not browser.console_errors(driver)
            for path in ("/", "/stations", "/anomalies", "/training", "/models"):
                driver.get(base + path)
                assert driver.find_element("css selector", ".role").text == "admin"
                assert not browser.console_errors(driver), path
    finally:
        driver.quit()
