"""The search page's player in real Chromium: its download buttons give a playable clip of the
moment and a still, and an AVI that browsers cannot play plays from its playable copy."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import frame_at, make_video
from tests.web.conftest import serving, web_settings
from tests.web import test_browser as _chromium  # skips this module too where Chromium is missing

browser = _chromium.browser  # the same module-scoped fixture: one Chromium for these tests
_upload = _chromium._upload

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def _downloads_to(browser, folder: Path) -> None:
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})


def _downloaded(folder: Path, suffix: str, timeout: float = 120) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if p.name.endswith(suffix)]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"nothing ending in {suffix} was downloaded into {folder}: {list(folder.iterdir())}")


def _ffprobe(path: Path) -> dict:
    return json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json",
                                      str(path)], check=True, capture_output=True).stdout)


def _playing(browser, timeout=120):
    player = browser.find_element(By.ID, "player")
    WebDriverWait(browser, timeout).until(lambda d: d.execute_script(
        "const v = arguments[0]; return v.readyState >= 2 && !v.seeking && v.currentTime > 0;", player))
    return player


def test_the_download_buttons_give_the_moment_as_a_clip_and_a_still(browser, live, tmp_path):
    expected = live.search((live.videos["a"].parent / "a_3s.png").read_bytes()).json["results"][0]
    _upload(browser, live, live.videos["a"].parent / "a_3s.png")
    WebDriverWait(browser, 300).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .result"))
    browser.find_element(By.CSS_SELECTOR, "#results .result").click()
    _playing(browser, 30)
    _downloads_to(browser, tmp_path)
    clip = browser.find_element(By.ID, "download-clip")
    assert clip.is_displayed() and clip.text == "Download clip"
    href = clip.get_attribute("href")
    assert f"/api/v1/videos/{live.ids['a']}/clip?start=" in href
    clip.click()
    got = _downloaded(tmp_path, ".mp4")
    assert got.name.startswith("a_0-00-") and "_to_" in got.name
    info = _ffprobe(got)
    want = max(expected["end"] - expected["start"], 1.0)
    assert info["streams"][0]["codec_name"] == "h264"
    assert float(info["format"]["duration"]) == pytest.approx(want, abs=0.3)
    browser.find_element(By.ID, "player").click()  # pause
    browser.find_element(By.ID, "download-frame").click()
    still = _downloaded(tmp_path, ".jpg")
    assert still.name.startswith("a_0-00-") and still.read_bytes()[:2] == b"\xff\xd8"
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None


@pytest.fixture(scope="module")
def avi_live(tmp_path_factory):
    """A server with one AVI of MS-MPEG4 v3 video (vtest.avi's codec), which no browser plays."""
    from vidsearch.library import Library

    tmp = tmp_path_factory.mktemp("avi")
    avi = make_video(tmp / "walk.avi", source="testsrc2", duration=20, size="640x480", codec="msmpeg4")
    frame_at(avi, 8, tmp / "walk_8s.png")
    lib = Library(web_settings(tmp / "data", VIDSEARCH_OCR="0", VIDSEARCH_CONCEPTS="0"))
    try:
        result = list(lib.ingest([avi]))[0]
        assert result.status == "indexed", result.error
        with serving(lib, videos={"avi": avi}, ids={"avi": result.video_id}) as server:
            yield server
    finally:
        lib.close()


def test_an_avi_plays_from_its_playable_copy(browser, avi_live):
    _upload(browser, avi_live, avi_live.videos["avi"].parent / "walk_8s.png")
    first = WebDriverWait(browser, 300).until(lambda d: d.find_element(By.CSS_SELECTOR, "#results .result"))
    assert "walk.avi" in first.text
    first.click()
    notes = set()

    def playing_or_noting(d):
        note = d.find_element(By.ID, "player-status")
        if note.is_displayed():
            notes.add(note.text)
        return d.execute_script("const v = arguments[0]; return v.readyState >= 2 && v.currentTime > 0;",
                                d.find_element(By.ID, "player"))

    WebDriverWait(browser, 180, poll_frequency=0.05).until(playing_or_noting)
    assert any(n.startswith("Preparing a playable copy…") and "%" in n for n in notes), notes
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None
    assert not browser.find_element(By.ID, "player-status").is_displayed()
    current = browser.execute_script("return document.getElementById('player').currentTime;")
    assert 4 <= current <= 12  # it seeks to the moment once the copy is there
