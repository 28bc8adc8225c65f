"""The search page in a real headless Chromium (Debian `chromium` + `chromium-driver`, Selenium)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "screenshot-search.png"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip("chromium / chromedriver not installed (apt-get install -y chromium chromium-driver)",
                allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(arg)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    try:
        driver = webdriver.Chrome(options=opts, service=service)
    except Exception as exc:  # a broken browser install is an environment problem, not a UI bug
        pytest.skip(f"chromium did not start: {exc.__class__.__name__}: {str(exc)[:200]}")
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _upload(browser, live, path: Path, **options):
    browser.get(live.url + "/")
    browser.find_element(By.ID, "image").send_keys(str(path))
    if options:
        browser.find_element(By.CSS_SELECTOR, "details.options summary").click()
        for name, value in options.items():
            field = browser.find_element(By.NAME, name)
            field.clear()
            field.send_keys(str(value))
    browser.find_element(By.ID, "submit").click()


def test_search_click_plays_the_moment(browser, live, query_png):
    png = live.videos["a"].parent / "a_3s.png"
    # "after" keeps the moment from starting at 0 s, so that the seek is visible
    expected = live.search(query_png, after=2).json["results"][0]
    assert expected["video_id"] == live.ids["a"] and expected["start"] >= 1.5
    _upload(browser, live, png, after=2)
    wait = WebDriverWait(browser, 300)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .result"))
    first = browser.find_element(By.CSS_SELECTOR, "#results .result")
    assert "a.mp4" in first.text and "score" in first.text
    assert browser.find_element(By.CSS_SELECTOR, "#results .result img").get_attribute("src").endswith("/thumbnail")

    first.click()
    player = browser.find_element(By.ID, "player")
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "const v = arguments[0]; return v.readyState >= 2 && !v.seeking && v.currentTime > 0;", player))
    current = browser.execute_script("return arguments[0].currentTime;", player)
    assert abs(current - expected["start"]) < 0.25, (current, expected)
    assert browser.execute_script("return arguments[0].error;", player) is None
    assert browser.switch_to.active_element == player  # focus moved to the player
    marks = browser.find_elements(By.CSS_SELECTOR, "#timeline .mark")
    assert marks and any("current" in m.get_attribute("class") for m in marks)
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None

    browser.set_window_size(1280, 1500)
    browser.execute_script("window.scrollTo(0, 0);")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))

    # phone width: nothing wider than the screen
    browser.set_window_size(390, 844)
    try:
        over = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth;")
        assert over <= 1
    finally:
        browser.set_window_size(1280, 1000)


def test_a_server_error_is_shown_to_the_user(browser, live, tmp_path):
    bogus = tmp_path / "broken.png"
    bogus.write_bytes(b"not a picture at all")
    _upload(browser, live, bogus)
    error = browser.find_element(By.ID, "error")
    WebDriverWait(browser, 30).until(lambda d: error.is_displayed())
    assert "not a readable image" in error.text
    assert browser.find_element(By.ID, "submit").is_enabled()


def test_library_upload_shows_progress_then_the_video_and_deletes_it(browser, live, tmp_path):
    from tests.conftest import make_video

    clip = make_video(tmp_path / "dropped.mp4", source="testsrc", duration=40, size="160x120", fps=10)
    browser.get(live.url + "/library")
    browser.find_element(By.ID, "file").send_keys(str(clip))
    wait = WebDriverWait(browser, 300)
    item = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#uploads .upload-item"))
    assert "dropped.mp4" in item.text
    states = set()

    def finished(d):
        text = d.find_element(By.CSS_SELECTOR, "#uploads .upload-item .state").text
        states.add(text.split(" ")[0])
        return text in ("indexed", "already indexed") or text.startswith("failed")

    WebDriverWait(browser, 300, poll_frequency=0.05).until(finished)
    assert browser.find_element(By.CSS_SELECTOR, "#uploads .upload-item .state").text == "indexed"
    assert states & {"queued", "indexing", "uploading", "checking"}, states  # live states were shown
    row = wait.until(lambda d: [r for r in d.find_elements(By.CSS_SELECTOR, "#videos tbody tr") if "dropped.mp4" in r.text])[0]
    wait.until(lambda d: "indexed" in row.find_element(By.CSS_SELECTOR, ".badge").text)
    vid = row.get_attribute("data-id")
    assert live.request("GET", f"/api/v1/videos/{vid}").json["status"] == "indexed"

    row.find_element(By.CSS_SELECTOR, "button.delete").click()
    WebDriverWait(browser, 10).until(lambda d: d.switch_to.alert).accept()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, f'#videos tr[data-id="{vid}"]'))
    assert live.request("GET", f"/api/v1/videos/{vid}").status == 404
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None


def test_dedup_page_shows_the_copy_side_by_side(browser, live, tmp_path):
    import subprocess

    excerpt = tmp_path / "excerpt.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "1", "-t", "3", "-i", str(live.videos["a"]), "-vf",
                    "scale=240:-2", "-c:v", "libx264", "-preset", "veryfast", "-crf", "28", str(excerpt)], check=True)
    browser.get(live.url + "/dedup")
    browser.find_element(By.ID, "clip").send_keys(str(excerpt))
    browser.find_element(By.ID, "submit").click()
    wait = WebDriverWait(browser, 300)
    first = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#matches .match"))
    assert "a.mp4" in first.text and "clip 0:0" in first.text and "score" in first.text
    imgs = first.find_elements(By.CSS_SELECTOR, "img")
    assert imgs[1].get_attribute("src").endswith("/thumbnail")
    wait.until(lambda d: (imgs[0].get_attribute("src") or "").startswith("data:image/jpeg"))  # the clip's own frame
    first.click()
    player = browser.find_element(By.ID, "player")
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "const v = arguments[0]; return v.readyState >= 2 && !v.seeking && v.currentTime > 0;", player))


def test_search_page_takes_a_clip(browser, live, tmp_path):
    import subprocess

    excerpt = tmp_path / "excerpt2.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "2", "-t", "3", "-i", str(live.videos["a"]), "-vf",
                    "scale=200:-2", "-c:v", "libx264", "-preset", "veryfast", str(excerpt)], check=True)
    _upload(browser, live, excerpt)
    first = WebDriverWait(browser, 300).until(lambda d: d.find_element(By.CSS_SELECTOR, "#results .result"))
    assert "a.mp4" in first.text and "clip " in first.text
    assert browser.find_element(By.ID, "clip-preview").is_displayed()


@pytest.mark.parametrize("page", ["/library", "/dedup"])
def test_pages_fit_a_phone_and_work_from_the_keyboard(browser, live, page):
    browser.set_window_size(390, 844)
    try:
        browser.get(live.url + page)
        over = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth;")
        assert over <= 1, f"{page} is {over} px wider than a phone screen"
        # Tab goes through the skip link and the navigation to the file picker
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        seen = []
        for _ in range(8):
            ActionChains(browser).send_keys(Keys.TAB).perform()
            el = browser.switch_to.active_element
            seen.append(el.get_attribute("id") or el.tag_name)
        assert ("file" if page == "/library" else "clip") in seen, seen
    finally:
        browser.set_window_size(1280, 1000)
