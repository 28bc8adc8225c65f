"""The Watchlists page in a real headless Chromium: add from a picture, backtest, play the match."""
from __future__ import annotations

import pytest

from tests.web import test_browser
from tests.web.test_browser import By, WebDriverWait

browser = test_browser.browser  # the shared Chromium fixture


def test_add_backtest_and_play_a_match(browser, live):
    png = live.videos["a"].parent / "a_3s.png"
    browser.get(live.url + "/watchlists")
    browser.find_element(By.NAME, "name").send_keys("card")
    browser.find_element(By.NAME, "image").send_keys(str(png))
    browser.find_element(By.CSS_SELECTOR, "#add-form button[type=submit]").click()
    wait = WebDriverWait(browser, 120)
    try:
        wait.until(lambda d: any(td.text == "card" for td in d.find_elements(By.CSS_SELECTOR, "#watchlists td")))
        row = next(tr for tr in browser.find_elements(By.CSS_SELECTOR, "#watchlists tbody tr")
                   if tr.find_element(By.CSS_SELECTOR, "td").text == "card")
        assert "0.400 (default)" in row.text
        row.find_element(By.XPATH, ".//button[text()='Backtest']").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#backtest-matches li"))
        answer = live.request("POST", "/api/v1/watchlists/card/backtest").json
        shown = browser.find_element(By.ID, "backtest-summary").text
        assert shown.startswith(f"card: {answer['total']} match") and answer["total"] >= 1
        assert len(browser.find_elements(By.CSS_SELECTOR, "#backtest-matches li")) == answer["total"]
        match = answer["matches"][0]
        assert match["video_id"] == live.ids["a"]
        browser.find_element(By.CSS_SELECTOR, "#backtest-matches li button.thumb").click()
        wait.until(lambda d: d.execute_script("const v = document.getElementById('player');"
                                              "return !v.hidden && v.readyState >= 1"))
        t = browser.execute_script("return document.getElementById('player').currentTime")
        assert t == pytest.approx(match["timestamp"], abs=0.6)
    finally:
        live.request("DELETE", "/api/v1/watchlists/card")
