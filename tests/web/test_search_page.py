"""The search workspace in real headless Chromium: searches that live in the URL, filters,
"More like this", keys, dark mode, empty and error states, the 404 page, the library's tools.
The browser is tests/web/test_browser.py's (Debian chromium + chromedriver through Selenium)."""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import pytest

from tests.web.conftest import WALL
from tests.web import test_browser as _harness

browser = _harness.browser  # the fixture: one Chromium for the module

from selenium.webdriver.common.by import By  # noqa: E402  (test_browser skips the module without selenium)
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def _shown(d) -> list[tuple[str, str]]:
    """(file name, time range) of each result on the page, read in one step."""
    return [tuple(x) for x in d.execute_script(
        "return [...document.querySelectorAll('#results .result')].map("
        "(b) => [b.querySelector('.name').textContent, b.querySelector('.time').textContent]);")]


def _expected(server, **params) -> list[tuple[str, str]]:
    body = server.request("GET", "/api/v1/search?" + urlencode(params)).json
    return [(r["path"].rsplit("/", 1)[-1], f"{_hms(r['start'])}–{_hms(r['end'])}") for r in body["results"]]


def _hms(t: float) -> str:
    t = int(max(0, t))
    return f"{t // 3600}:{t // 60 % 60:02d}:{t % 60:02d}"


def _wait_results(browser, want, timeout=120):
    from selenium.common.exceptions import TimeoutException

    try:
        WebDriverWait(browser, timeout).until(lambda d: _shown(d) == want and not d.execute_script(
            "return document.getElementById('search-form').hasAttribute('aria-busy');"))
    except TimeoutException:
        status = browser.execute_script("return [document.getElementById('status').textContent,"
                                        "document.getElementById('error').textContent, location.href];")
        raise AssertionError(f"shown {_shown(browser)}, wanted {want}; status, error, url: {status}") from None


def test_a_link_with_a_query_shows_its_results_and_history_works(browser, text_live):
    exit_sign = _expected(text_live, text="EXIT sign")
    opened = _expected(text_live, text="OPEN")
    assert exit_sign and opened and exit_sign != opened
    browser.get(text_live.url + "/?q=EXIT+sign")  # a pasted link
    _wait_results(browser, exit_sign)
    assert browser.find_element(By.ID, "text").get_attribute("value") == "EXIT sign"
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys("OPEN", Keys.ENTER)
    _wait_results(browser, opened)
    assert browser.execute_script("return location.search;") == "?q=OPEN"
    browser.back()
    _wait_results(browser, exit_sign)
    assert browser.find_element(By.ID, "text").get_attribute("value") == "EXIT sign"
    browser.forward()
    _wait_results(browser, opened)
    browser.refresh()
    _wait_results(browser, opened)


def _clock(t: float) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%H:%M")  # the server's zone, which the browser shares here


def _set_time(browser, element_id: str, value: str):
    browser.execute_script("const e = document.getElementById(arguments[0]); e.value = arguments[1];"
                           "e.dispatchEvent(new Event('input', {bubbles: true}));", element_id, value)


def test_filters_narrow_the_results_and_live_in_the_url(browser, text_live):
    both = _expected(text_live, text="EXIT OPEN")
    assert {n for n, _ in both} == {"exit.mp4", "open.mp4"}, both
    browser.get(text_live.url + "/?q=EXIT+OPEN")
    _wait_results(browser, both)
    browser.find_element(By.CSS_SELECTOR, "#filters summary").click()
    # a time of day around the recording of exit.mp4 (open.mp4 has no wall clock: it drops out)
    _set_time(browser, "tod-from", _clock(WALL - 60))
    _set_time(browser, "tod-to", _clock(WALL + 120))
    browser.find_element(By.ID, "submit").click()
    window = f"{_clock(WALL - 60)}-{_clock(WALL + 120)}"
    narrowed = _expected(text_live, text="EXIT OPEN", time_of_day=window)
    assert narrowed and {n for n, _ in narrowed} == {"exit.mp4"}
    _wait_results(browser, narrowed)
    assert "time_of_day=" in browser.execute_script("return location.search;")
    browser.refresh()  # the filter is in the URL: the same answer, the fields filled in again
    _wait_results(browser, narrowed)
    assert browser.find_element(By.ID, "tod-from").get_attribute("value") == _clock(WALL - 60)
    assert "1 active" in browser.find_element(By.ID, "filter-count").text
    # hours when nothing was recorded: nothing
    _set_time(browser, "tod-from", _clock(WALL + 6 * 3600))
    _set_time(browser, "tod-to", _clock(WALL + 7 * 3600))
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 60).until(lambda d: "No matching moments" in d.find_element(By.ID, "status").text)
    # the video picker, a date range with the date picker
    _set_time(browser, "tod-from", "")
    _set_time(browser, "tod-to", "")
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#video option")) == 3)
    browser.execute_script("document.getElementById('video').value = arguments[0];", text_live.ids["open"])
    browser.find_element(By.ID, "submit").click()
    _wait_results(browser, _expected(text_live, text="EXIT OPEN", video_id=text_live.ids["open"]))
    browser.execute_script("document.getElementById('video').value = '';")
    local = dt.datetime.fromtimestamp(WALL)
    _set_time(browser, "date-from", (local - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    _set_time(browser, "date-to", (local + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    browser.find_element(By.ID, "submit").click()
    _wait_results(browser, narrowed)
    assert browser.find_element(By.ID, "date-from").get_attribute("type") == "datetime-local"


def test_more_like_this_searches_with_the_result(browser, live, query_png):
    a = live.ids["a"]
    browser.get(live.url + "/?" + urlencode({"like": a, "t": 3}))
    like_a = _expected(live, like_video=a, like_t=3)
    assert like_a and like_a[0][0] == "a.mp4"
    _wait_results(browser, like_a)
    assert "More like the frame at 0:00:03 of a.mp4" in browser.find_element(By.ID, "like-note").text
    # from a result of another search: its button searches with that moment's stored frame
    browser.get(live.url + "/")
    browser.find_element(By.ID, "image").send_keys(str(live.videos["a"].parent / "a_3s.png"))
    first = WebDriverWait(browser, 300).until(lambda d: d.find_element(By.CSS_SELECTOR, "#results li"))
    shown_t = live.search(query_png).json["results"][0]["timestamp"]
    first.find_element(By.CSS_SELECTOR, "button.like").click()
    WebDriverWait(browser, 30).until(lambda d: "like=" in d.execute_script("return location.search;"))
    _wait_results(browser, _expected(live, like_video=a, like_t=round(shown_t, 3)))
    assert browser.find_element(By.CSS_SELECTOR, "#results .result .name").text == "a.mp4"


def test_a_picture_search_survives_a_reload(browser, live):
    browser.get(live.url + "/")
    browser.find_element(By.ID, "image").send_keys(str(live.videos["a"].parent / "a_3s.png"))
    WebDriverWait(browser, 300).until(lambda d: "image=" in d.execute_script("return location.search;"))
    WebDriverWait(browser, 60).until(lambda d: _shown(d))
    before = _shown(browser)
    browser.refresh()  # the picture is not uploaded again: the server kept it under its hash
    _wait_results(browser, before)
    assert "earlier search" in browser.find_element(By.ID, "like-note").text


def test_keys_move_through_results_play_and_close(browser, live):
    browser.get(live.url + "/?" + urlencode({"like": live.ids["a"], "t": 3}))
    WebDriverWait(browser, 120).until(lambda d: _shown(d))
    from selenium.webdriver.common.action_chains import ActionChains

    body = browser.find_element(By.TAG_NAME, "body")
    body.click()
    ActionChains(browser).send_keys("/").perform()
    assert browser.switch_to.active_element.get_attribute("id") == "text"
    browser.switch_to.active_element.send_keys(Keys.TAB)  # out of the box: keys are shortcuts again
    body.click()
    ActionChains(browser).send_keys("j").perform()
    active = browser.switch_to.active_element
    assert "result" in active.get_attribute("class") and active.get_attribute("data-index") == "0"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    player = browser.find_element(By.ID, "player")
    WebDriverWait(browser, 30).until(lambda d: player.is_displayed() and d.execute_script(
        "return arguments[0].readyState >= 1;", player))
    assert player.get_attribute("aria-label")
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    WebDriverWait(browser, 10).until(lambda d: not player.is_displayed())
    assert browser.switch_to.active_element.get_attribute("data-index") == "0"  # back on the result


def _background(browser) -> tuple[int, ...]:
    rgb = browser.execute_script("return getComputedStyle(document.body).backgroundColor;")
    return tuple(int(v) for v in rgb[rgb.index("(") + 1: rgb.index(")")].split(",")[:3])


def test_dark_mode_follows_the_system_and_the_toggle(browser, live):
    try:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        browser.get(live.url + "/")
        browser.execute_script("localStorage.removeItem('vidsearch.theme');")
        browser.refresh()
        assert sum(_background(browser)) < 3 * 60, _background(browser)  # dark
        toggle = browser.find_element(By.ID, "theme-toggle")
        assert toggle.get_attribute("aria-pressed") == "true"
        toggle.click()
        assert sum(_background(browser)) > 3 * 200  # light, by choice
        browser.refresh()
        assert sum(_background(browser)) > 3 * 200  # remembered
        toggle = browser.find_element(By.ID, "theme-toggle")
        toggle.click()
        assert sum(_background(browser)) < 3 * 60
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
        browser.execute_script("localStorage.removeItem('vidsearch.theme');")
        browser.refresh()
        assert sum(_background(browser)) > 3 * 200
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        browser.execute_script("localStorage.removeItem('vidsearch.theme');")


def test_an_unknown_page_is_an_html_404_with_links(browser, live):
    browser.get(live.url + "/no/such/page")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Page not found"
    assert browser.find_element(By.LINK_TEXT, "library").get_attribute("href").endswith("/library")
    browser.get(live.url + "/api/v1/no-such-thing")  # the API stays JSON, even for a browser
    assert '"not_found"' in browser.find_element(By.TAG_NAME, "body").text


@pytest.fixture
def empty_server(tmp_path):
    from tests.web.conftest import serving, web_settings
    from vidsearch.library import Library

    with Library(web_settings(tmp_path / "data")) as lib:
        with serving(lib) as server:
            yield server


def test_nothing_indexed_points_to_the_library_and_a_dead_server_is_said_plainly(browser, empty_server):
    browser.get(empty_server.url + "/")
    empty = browser.find_element(By.ID, "empty")
    WebDriverWait(browser, 30).until(lambda d: empty.is_displayed())
    assert empty.find_element(By.TAG_NAME, "a").get_attribute("href") == empty_server.url + "/library"
    # the server cannot be reached (the network is cut: every request fails, as with the server down)
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0,
                                                                 "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        browser.find_element(By.ID, "text").send_keys("anything", Keys.ENTER)
        error = browser.find_element(By.ID, "error")
        WebDriverWait(browser, 30).until(lambda d: error.is_displayed())
        assert "cannot be reached" in error.text and "Failed to fetch" not in error.text
        assert browser.find_element(By.ID, "submit").is_enabled()
    finally:
        browser.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                                     "downloadThroughput": -1, "uploadThroughput": -1})
        browser.execute_cdp_cmd("Network.disable", {})


def test_the_library_has_thumbnails_sort_and_find_by_name(browser, live):
    browser.get(live.url + "/library")
    rows = lambda: browser.execute_script(  # noqa: E731
        "return [...document.querySelectorAll('#videos tbody tr')].filter((r) => !r.hidden).map((r) => r.dataset.name);")
    WebDriverWait(browser, 30).until(lambda d: {"a.mp4", "b.mp4"} <= set(rows()))
    thumb = browser.find_element(By.CSS_SELECTOR, f'#videos tr[data-id="{live.ids["a"]}"] .thumb img')
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return arguments[0].naturalWidth;", thumb) > 0)
    browser.execute_script("const s = document.getElementById('library-sort'); s.value = 'name';"
                           "s.dispatchEvent(new Event('change'));")
    names = rows()
    assert names == sorted(names, key=str.lower)
    added = browser.find_element(By.CSS_SELECTOR, f'#videos tr[data-id="{live.ids["a"]}"] .added').text
    assert added and added != "–"
    box = browser.find_element(By.ID, "name-filter")
    box.send_keys("b.mp")
    assert rows() == ["b.mp4"]
    assert "1 of" in browser.find_element(By.ID, "summary").text
    box.send_keys(Keys.BACKSPACE * 4)
    assert {"a.mp4", "b.mp4"} <= set(rows())


def test_dark_mode_at_a_phone_width_for_the_readme(browser, live):
    """The README's second picture: a find-similar search from its URL, dark, 390 px wide."""
    shot = _harness.SCREENSHOT.parent / "screenshot-search-dark-phone.png"
    browser.set_window_size(390, 844)
    try:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                                {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        browser.get(live.url + "/?" + urlencode({"like": live.ids["a"], "t": 3}))
        WebDriverWait(browser, 120).until(lambda d: _shown(d))
        WebDriverWait(browser, 30).until(lambda d: d.execute_script(
            "return [...document.querySelectorAll('#results img')].every((i) => i.complete);"))
        assert sum(_background(browser)) < 3 * 60
        over = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth;")
        assert over <= 1, f"the page is {over} px wider than a phone screen"
        height = browser.execute_script("return document.documentElement.scrollHeight;")
        browser.set_window_size(390, min(1800, height + 140))
        browser.save_screenshot(str(shot))
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        browser.set_window_size(1280, 1000)
