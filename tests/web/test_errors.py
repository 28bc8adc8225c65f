"""Unknown pages: an HTML 404 for a browser, JSON for the API and for clients that do not ask for HTML."""
from __future__ import annotations

from tests.web.test_api import assert_json_error

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_a_browser_gets_an_html_404_page(live):
    r = live.request("GET", "/no/such/page", headers=BROWSER)
    assert r.status == 404 and r.headers.get_content_type() == "text/html"
    assert b"Page not found" in r.body and b'href="/library"' in r.body


def test_the_api_and_other_clients_get_json(live):
    assert_json_error(live.request("GET", "/api/v1/no-such-thing", headers=BROWSER), 404, "not_found")
    assert_json_error(live.request("GET", "/no/such/page"), 404, "not_found")
    assert_json_error(live.request("GET", "/no/such/page", headers={"Accept": "application/json"}), 404, "not_found")
