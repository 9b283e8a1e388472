"""The localization settings (HEIMDALL_AUTO_LOCALIZE_WINDOW_S, HEIMDALL_LOCALIZE_MIN_TOLERANCE_HZ,
HEIMDALL_LOCALIZE_DETECTIONS_WINDOW_S) are checked when the process starts.

Found: they were read with a bare float(), which took "nan", "inf" and negative values
(and refused an empty value with a bare ValueError). A NaN window started fine and then
made every ingest's automatic-localization hook fail (timedelta(seconds=nan), logged and
swallowed): no automatic fix ever again, and no sign of why."""

import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from heimdall.env import env_float

SETTINGS = Path(__file__).resolve().parents[2] / "heimdall" / "settings.py"
NAMES = {
    "HEIMDALL_AUTO_LOCALIZE_WINDOW_S": 2.0,
    "HEIMDALL_LOCALIZE_MIN_TOLERANCE_HZ": 500.0,
    "HEIMDALL_LOCALIZE_DETECTIONS_WINDOW_S": 5.0,
}


@pytest.mark.parametrize("name", sorted(NAMES))
@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "-1", "abc", "1e400"])
def test_a_bad_localization_setting_stops_the_process_naming_it(monkeypatch, name, raw):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ImproperlyConfigured, match=name):
        runpy.run_path(str(SETTINGS))


@pytest.mark.parametrize("name", ["HEIMDALL_AUTO_LOCALIZE_WINDOW_S",
                                  "HEIMDALL_LOCALIZE_DETECTIONS_WINDOW_S"])  # fmt: skip
def test_a_window_must_be_positive(monkeypatch, name):
    monkeypatch.setenv(name, "0")
    with pytest.raises(ImproperlyConfigured, match=f"{name} must be a finite number above 0"):
        runpy.run_path(str(SETTINGS))


def test_good_and_empty_values(monkeypatch):
    for name, default in NAMES.items():
        monkeypatch.setenv(name, "")
        assert runpy.run_path(str(SETTINGS))[name] == default
    monkeypatch.setenv("HEIMDALL_AUTO_LOCALIZE_WINDOW_S", " 1.5 ")
    monkeypatch.setenv("HEIMDALL_LOCALIZE_MIN_TOLERANCE_HZ", "0")
    loaded = runpy.run_path(str(SETTINGS))
    assert loaded["HEIMDALL_AUTO_LOCALIZE_WINDOW_S"] == 1.5
    assert loaded["HEIMDALL_LOCALIZE_MIN_TOLERANCE_HZ"] == 0.0


def test_env_float_bounds(monkeypatch):
    monkeypatch.setenv("X_F", "11")
    with pytest.raises(
        ImproperlyConfigured,
        match="X_F must be a finite number at least 0 and at most 10, got '11'",
    ):
        env_float("X_F", 1.0, minimum=0, maximum=10)
    monkeypatch.delenv("X_F")
    assert env_float("X_F", 1.0, minimum=0, maximum=10) == 1.0
