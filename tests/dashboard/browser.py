"""A live Heimdall for the browser tests and bench/console.py: daphne on the test
database and Redis, static files collected, and headless Debian chromium driven by
selenium through chromium-driver (no driver download: the path is given)."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def browser_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def collect_static(target: Path, env: dict) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT, env={**env, "HEIMDALL_STATIC_ROOT": str(target)}, check=True,
    )  # fmt: skip


@contextmanager
def daphne(database_url: str, *, static_root: Path, artifact_root: Path, extra_env=None,
           base_env=None):  # fmt: skip
    """A daphne serving Heimdall on a free port; yields its base URL. Background work runs
    in-process (training included), events go through Redis (REDIS_URL of the caller).
    An empty `database_url` with `base_env` lacking DATABASE_URL/REDIS_URL: embedded mode."""
    port = free_port()
    env = {
        **(os.environ if base_env is None else base_env),
        **({"DATABASE_URL": database_url} if database_url else {}),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "HEIMDALL_STATIC_ROOT": str(static_root),
        "HEIMDALL_ARTIFACT_ROOT": str(artifact_root),
        "HEIMDALL_TASK_BACKEND": "inprocess",
        "HEIMDALL_EMBEDDED_COLLECTORS": "false",
        "HEIMDALL_RATE_LIMIT_USER": "100000/min",
        **(extra_env or {}),
    }
    log = open(artifact_root.parent / f"daphne-{port}.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "heimdall.asgi:application"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/login", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"daphne did not start: see {log.name}") from None
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def chromium(width: int = 1440, height: int = 1000):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def console_errors(driver) -> list[str]:
    """SEVERE entries of the page's console log since the last call (JS errors, failed
    loads). Reading the log empties it."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def wait_for(predicate, timeout: float = 10.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(step)


def log_in(driver, base: str, username: str, password: str, next_path: str = "/") -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/login?next={next_path}")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    wait_for(lambda: "/login" not in driver.current_url)
