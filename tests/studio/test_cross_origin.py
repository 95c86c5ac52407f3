"""Issue 19: a web page the user visits on another origin (here: another loopback port) cannot
drive the Studio server: its form posts and fetches are refused (403) before any route runs,
while the Studio's own same-origin calls go through. Chromium through Playwright."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.slow

ATTACK = """<!doctype html><html><body>
<form id="form" method="POST" enctype="text/plain" action="{target}/studio/api/datasets">
  <input name='{{"files": {{"a.jsonl": "{{}}", "x.txt": "' value='"}}}}'>
  <button id="go" type="submit">go</button>
</form></body></html>"""


@pytest.fixture
def attacker(live) -> Iterator[str]:
    """A second tiny HTTP server on another loopback port serving the attacking page."""
    page = ATTACK.format(target=live.url).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_another_origin_cannot_post_to_the_studio_server(page, live, attacker, sb_home):
    page.goto(attacker)
    # a simple (preflight-free) form post: the browser navigates to the server's answer
    with page.expect_navigation() as navigation:
        page.click("#go")
    response = navigation.value
    assert response is not None and response.status == 403
    assert "cross-origin" in page.content()
    assert not (sb_home / "studio" / "datasets").exists() or not any((sb_home / "studio" / "datasets").iterdir())

    # a no-cors fetch of a generation route (text/plain needs no preflight): refused too
    page.goto(attacker)
    with page.expect_response(lambda r: r.url.endswith("/invocations")) as answer:
        page.evaluate("""url => fetch(url, {method: "POST", mode: "no-cors", body: "hello",
                                           headers: {"Content-Type": "text/plain"}}).catch(() => null)""",
                      f"{live.url}/endpoints/any/invocations")
    assert answer.value.status == 403

    # the Studio itself (same origin) still posts
    page.goto(f"{live.url}/studio/")
    status = page.evaluate("""async () => (await fetch("/studio/api/hyperparameters/validate", {method: "POST",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify({model: "smollm2-135m-instruct"})})).status""")
    assert status == 200
