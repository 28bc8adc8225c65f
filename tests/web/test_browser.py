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
    """Set the options, then pick the file: picking it searches (as dropping does)."""
    browser.get(live.url + "/")
    if options:
        browser.find_element(By.CSS_SELECTOR, "details.options summary").click()
        for name, value in options.items():
            field = browser.find_element(By.NAME, name)
            field.clear()
            field.send_keys(str(value))
    browser.find_element(By.ID, "image").send_keys(str(path))


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
    # it plays from a little before the best instant (and is playing on, so allow a little after)
    assert expected["timestamp"] - 3.0 <= current <= expected["timestamp"] + 1.0, (current, expected)
    span = browser.find_element(By.CSS_SELECTOR, "#timeline .span")
    assert span.size["width"] > 0  # the moment's span is drawn
    assert browser.execute_script("return arguments[0].error;", player) is None
    assert browser.switch_to.active_element == player  # focus moved to the player
    marks = browser.find_elements(By.CSS_SELECTOR, "#timeline .mark")
    assert marks and any("current" in m.get_attribute("class") for m in marks)
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None

    # tall enough for the query, the player and the results grid (the README's picture)
    height = browser.execute_script("return document.documentElement.scrollHeight;")
    browser.set_window_size(1280, min(2600, max(1500, height + 140)))
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
    assert "a.mp4" in first.text and "of the clip" in first.text
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


# -- text search, and a region drawn on the dropped picture ---------------------------------------
SPY = """
window.__sent = [];
const realFetch = window.fetch;
window.fetch = (url, opts) => {
  const body = opts && opts.body;
  window.__sent.push(body instanceof FormData
    ? Object.fromEntries([...body.entries()].map(([k, v]) => [k, typeof v === "string" ? v : "file:" + v.name]))
    : body === undefined ? String(url) : String(body));
  return realFetch(url, opts);
};
"""


def _first_text(browser) -> str:
    """The first result's text, read in one step (the list is replaced when an answer arrives)."""
    return browser.execute_script("const r = document.querySelector('#results .result'); return r ? r.innerText : '';")


def _first_result(browser, timeout=300):
    return WebDriverWait(browser, timeout).until(lambda d: d.find_element(By.CSS_SELECTOR, "#results .result"))


def test_text_search_from_the_box_shows_why(browser, text_live):
    from selenium.webdriver.common.keys import Keys

    browser.get(text_live.url + "/")
    browser.execute_script(SPY)
    box = browser.find_element(By.ID, "text")
    box.send_keys("EXIT sign", Keys.ENTER)  # Enter searches by text: no file was dropped
    first = _first_result(browser)
    assert "exit.mp4" in first.text
    why = first.find_element(By.CSS_SELECTOR, ".why").get_attribute("textContent")
    assert why.startswith("why: ") and "text on screen: 'exit'" in why
    sent = browser.execute_script("return window.__sent;")
    assert sent == [text_live.url + "/api/v1/search?text=EXIT+sign"], sent  # a GET of the page's URL state
    assert browser.execute_script("return location.search;") == "?q=EXIT+sign"
    expected = text_live.post_json("/api/v1/search", {"text": "EXIT sign"}).json["results"]
    shown = browser.find_elements(By.CSS_SELECTOR, "#results .result")
    assert len(shown) == len(expected) and f"score {expected[0]['score']:.3f}" in first.text
    assert browser.find_element(By.ID, "error").get_attribute("hidden") is not None

    # the button searches too; the previous results are replaced
    box.clear()
    box.send_keys("OPEN")
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 120).until(
        lambda d: "open.mp4" in _first_text(d))
    assert len(browser.execute_script("return window.__sent;")) == 2

    # no text and no file: a clear message, nothing sent
    box.clear()
    browser.find_element(By.ID, "submit").click()
    error = browser.find_element(By.ID, "error")
    WebDriverWait(browser, 10).until(lambda d: error.is_displayed())
    assert "Type what you are looking for" in error.text
    assert len(browser.execute_script("return window.__sent;")) == 2


@pytest.fixture(scope="module")
def big_jpeg(live, tmp_path_factory):
    """The frame at 3 s of video a, 1280x960 (4x the video): shown smaller than it is, so the region
    must be converted from displayed pixels to the picture's own."""
    import subprocess

    out = tmp_path_factory.mktemp("region") / "big.jpg"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(live.videos["a"].parent / "a_3s.png"), "-vf",
                    "scale=1280:960", "-q:v", "3", str(out)], check=True)
    return out


def _drag(browser, element, start, end, kind="mouse"):
    """Press at ``start`` and release at ``end`` (fractions of the element's displayed size), with a
    mouse or a finger (a touch pointer)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    w, h = element.size["width"], element.size["height"]
    at = [(round(fx * w - w / 2), round(fy * h - h / 2)) for fx, fy in (start, end)]
    if kind == "mouse":
        (ActionChains(browser).move_to_element_with_offset(element, *at[0]).click_and_hold()
         .move_by_offset((at[1][0] - at[0][0]) // 2, (at[1][1] - at[0][1]) // 2)
         .move_to_element_with_offset(element, *at[1]).release().perform())
        return
    actions = ActionBuilder(browser, mouse=PointerInput(interaction.POINTER_TOUCH, "finger"))
    actions.pointer_action.move_to(element, *at[0]).pointer_down()
    actions.pointer_action.move_to(element, (at[0][0] + at[1][0]) // 2, (at[0][1] + at[1][1]) // 2)
    actions.pointer_action.move_to(element, *at[1]).pointer_up()
    actions.perform()


def _region(browser) -> tuple[int, ...] | None:
    value = browser.find_element(By.ID, "region").get_attribute("value")
    return tuple(int(v) for v in value.split(",")) if value else None


def test_a_region_drawn_on_the_dropped_picture_is_searched(browser, live, big_jpeg):
    browser.get(live.url + "/")
    browser.execute_script(SPY)
    browser.find_element(By.ID, "image").send_keys(str(big_jpeg))  # picking it searches the whole picture
    WebDriverWait(browser, 120).until(lambda d: len(d.execute_script("return window.__sent;") or []) == 1)
    _first_result(browser)  # that search is answered before the region is drawn
    img = browser.find_element(By.ID, "preview")
    WebDriverWait(browser, 30).until(lambda d: img.is_displayed() and d.execute_script(
        "return arguments[0].naturalWidth;", img) == 1280)
    assert img.size["width"] < 1280 * 0.6  # shown smaller than it is

    _drag(browser, img, (0.10, 0.20), (0.60, 0.70))
    x, y, w, h = _region(browser)
    for got, want in ((x, 128), (y, 192), (w, 640), (h, 480)):  # pixels of the 1280x960 picture
        assert abs(got - want) <= 8, (x, y, w, h)
    sel = browser.find_element(By.ID, "selection")
    assert sel.is_displayed() and abs(sel.size["width"] - 0.5 * img.size["width"]) <= 3
    assert browser.find_element(By.ID, "region-w").get_attribute("value") == str(w)  # the fields follow

    browser.find_element(By.ID, "submit").click()
    first = _first_result(browser)
    sent = browser.execute_script("return window.__sent;")
    assert sent[-1]["image"] == "file:big.jpg" and sent[-1]["region"] == f"{x},{y},{w},{h}"
    assert "text" not in sent[-1]
    data = big_jpeg.read_bytes()
    cropped = live.post_form("/api/v1/search", {"region": f"{x},{y},{w},{h}"},
                             {"image": ("big.jpg", data, "image/jpeg")}).json["results"]
    whole = live.post_form("/api/v1/search", {}, {"image": ("big.jpg", data, "image/jpeg")}).json["results"]
    assert f"{cropped[0]['score']:.3f}" != f"{whole[0]['score']:.3f}"  # the region changes the answer
    WebDriverWait(browser, 10).until(
        lambda d: f"score {cropped[0]['score']:.3f}" in _first_text(d))

    # with a finger (touch pointer events) the same way (the results above pushed the picture down)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", img)
    _drag(browser, img, (0.50, 0.50), (0.25, 0.10), kind="touch")
    x, y, w, h = _region(browser)
    for got, want in ((x, 320), (y, 96), (w, 320), (h, 384)):
        assert abs(got - want) <= 8, (x, y, w, h)

    # from the keyboard: type the region, then clear it
    for name, value in (("region-x", "0"), ("region-y", "0"), ("region-w", "640"), ("region-h", "480")):
        field = browser.find_element(By.ID, name)
        field.clear()
        field.send_keys(value)
    assert _region(browser) == (0, 0, 640, 480)
    browser.find_element(By.ID, "clear-region").click()
    assert _region(browser) is None and not sel.is_displayed()
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 60).until(lambda d: len(d.execute_script("return window.__sent;")) == 3)
    assert "region" not in browser.execute_script("return window.__sent;")[-1]
    WebDriverWait(browser, 60).until(
        lambda d: f"score {whole[0]['score']:.3f}" in _first_text(d))


_EVIL_PAGE = """<!doctype html><title>loading</title><script>
(async () => {
  const clip = await (await fetch("clip.mp4")).blob();
  const data = new FormData();
  data.append("file", clip, "evil.mp4");
  try {
    await fetch("%(target)s/api/v1/videos", { method: "POST", mode: "no-cors", body: data });
    document.title = "sent";
  } catch (e) { document.title = "failed: " + e; }
})();
</script>"""


@pytest.mark.parametrize("page_host", ["127.0.0.1", "localhost"], ids=["same-site", "cross-site"])
def test_a_page_of_another_origin_cannot_add_a_video(browser, live, tmp_path, page_host):
    """A blind ``no-cors`` POST of a FormData from another origin (another port of this machine,
    or another site) indexed its video; the server now refuses it (web/origin.py). (A DELETE or a
    JSON POST from another origin needs a CORS preflight, which this server never grants.)"""
    import functools
    import http.server
    import threading

    from tests.conftest import make_video

    make_video(tmp_path / "clip.mp4", source="smptebars", duration=2)
    (tmp_path / "index.html").write_text(_EVIL_PAGE % {"target": live.url})

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=evil.serve_forever, daemon=True)
    thread.start()

    def state():
        return (sorted(v["id"] for v in live.request("GET", "/api/v1/videos").json["videos"]),
                [j["id"] for j in live.request("GET", "/api/v1/jobs").json["jobs"]])

    before = state()
    try:
        browser.get(f"http://{page_host}:{evil.server_address[1]}/index.html")
        WebDriverWait(browser, 60).until(lambda d: d.title != "loading")
        assert browser.title == "sent", browser.title
    finally:
        evil.shutdown()
        evil.server_close()
    assert state() == before  # nothing queued, nothing indexed
