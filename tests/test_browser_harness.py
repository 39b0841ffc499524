"""The browser harness never lets a suite pass quietly without its browser."""

import pytest

from tests import browser_harness


def _open(monkeypatch, path, skip=None):
    monkeypatch.setattr(browser_harness, "CHROMIUM", path)
    if skip is None:
        monkeypatch.delenv("KRONOS_SKIP_BROWSER", raising=False)
    else:
        monkeypatch.setenv("KRONOS_SKIP_BROWSER", skip)
    return browser_harness.chromium()


def test_a_missing_chromium_fails_the_browser_tests(monkeypatch, tmp_path):
    with pytest.raises(pytest.fail.Exception, match="no Chromium at .*KRONOS_SKIP_BROWSER=1"):
        _open(monkeypatch, str(tmp_path / "chromium"))
    with pytest.raises(pytest.fail.Exception):
        _open(monkeypatch, str(tmp_path / "chromium"), skip="yes")  # only "1" means on purpose


def test_skipping_them_is_said_out_loud(monkeypatch, tmp_path):
    with pytest.raises(pytest.skip.Exception, match=r"\(KRONOS_SKIP_BROWSER=1\)"):
        _open(monkeypatch, str(tmp_path / "chromium"), skip="1")


def test_a_present_chromium_is_used(monkeypatch, tmp_path):
    present = tmp_path / "chromium"
    present.write_text("")
    assert _open(monkeypatch, str(present)) == str(present)
