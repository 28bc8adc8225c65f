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
