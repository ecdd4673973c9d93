"""Pages from elsewhere in the clerk's browser (finding 7 of issue 10), in real Chromium.

* A page served by a second loopback server (another address or name, another port) sends
  the requests a hostile page would: a CORS-"simple" ``text/plain`` POST with
  ``publish=true``, a snapshot refresh, a match, and a ``text/plain`` form submission. The
  daemon refuses each (403) and nothing reaches the desk screen.
* DNS rebinding: Chromium resolves ``rebind.test`` to 127.0.0.1 (``--host-resolver-rules``,
  see helpers.CHROMIUM_ARGS); a page whose origin is ``http://rebind.test:<daemon port>``
  — what an attacker's page becomes once its name re-resolves — reads the API same-origin
  and gets 421 for every route.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import BrowserContext, Response, expect

from tests.browser.helpers import DaemonProcess, Screen, shot

ENP = "5012345678901234"
MATCH = {"enp": ENP, "surname": "Иванов", "given_name": "Иван", "birth_date": "1985-03-15"}

ATTACK = """<!doctype html><html><head><meta charset="utf-8"><title>attack</title></head><body>
<form id="f" method="POST" enctype="text/plain" action="{daemon}/v1/verify?publish=true">
<input name="{enp}" value="">
</form>
<script>
async function attack() {{
  const base = "{daemon}";
  const out = [];
  const posts = [
    ["/v1/verify?publish=true", "{enp}"],
    ["/v1/verify?publish=true&typed=true", "{enp}"],
    ["/v1/snapshot/refresh", ""],
    ["/v1/match", {match}],
  ];
  for (const [path, body] of posts) {{
    try {{
      await fetch(base + path, {{ method: "POST", mode: "no-cors", body: body }});
      out.push("sent " + path);
    }} catch (e) {{
      out.push("error " + path + ": " + e);
    }}
  }}
  return out;
}}
</script></body></html>
"""


class _Attacker(http.server.ThreadingHTTPServer):
    page = b""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        assert isinstance(self.server, _Attacker)
        body = self.server.page
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(params=[("127.0.0.2", "127.0.0.2"), ("127.0.0.1", "localhost")], ids=str)
def attacker(request: pytest.FixtureRequest, daemon: DaemonProcess) -> Iterator[str]:
    """A second loopback web server on another port; yields the attack page's URL."""
    bind, name = request.param
    server = _Attacker((bind, 0), _Handler)
    server.page = ATTACK.format(
        daemon=daemon.url, enp=ENP, match=json.dumps(json.dumps(MATCH))
    ).encode()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{name}:{server.server_address[1]}/attack.html"
    finally:
        server.shutdown()
        server.server_close()


def _scans(daemon: DaemonProcess) -> list[int]:
    with httpx.Client(base_url=daemon.url, timeout=5) as c:
        return [e["id"] for e in c.get("/v1/scans", params={"limit": 200}).json()["scans"]]


def test_page_from_another_origin_cannot_publish_or_refresh(
    chromium: BrowserContext, daemon: DaemonProcess, desk: Screen, attacker: str
) -> None:
    before = _scans(daemon)
    page = chromium.new_page()
    seen: list[tuple[str, str, int]] = []

    def record(r: Response) -> None:
        if r.url.startswith(daemon.url):
            seen.append((r.request.method, urlsplit(r.url).path, r.status))

    page.on("response", record)
    try:
        page.goto(attacker)
        sent = page.evaluate("attack()")
        assert all(s.startswith("sent ") for s in sent), sent  # the browser did send them
        with page.expect_navigation():
            page.evaluate("document.getElementById('f').submit()")
        body = page.locator("body").inner_text()
        assert '"code":"forbidden_origin"' in body.replace(" ", ""), body
        shot(page, "cross-origin-form-refused")
    finally:
        page.close()
    posts = [(m, p, s) for m, p, s in seen if m == "POST"]
    assert len(posts) == 5, seen
    assert {s for _, _, s in posts} == {403}, posts
    assert _scans(daemon) == before, "a verdict from the hostile page reached the screens"
    expect(desk.page.locator("#verdict")).to_have_attribute("data-outcome", "")
    expect(desk.page.locator("#history tr")).to_have_count(0)


REBIND_READS = [
    ("GET", f"/v1/policies/{ENP}?mode=offline"),
    ("POST", "/v1/match"),
    ("GET", "/metrics"),
    ("GET", "/v1/scans"),
    ("GET", "/v1/status"),
    ("GET", "/desk"),
]


def test_dns_rebinding_reads_get_421(chromium: BrowserContext, daemon: DaemonProcess) -> None:
    port = daemon.port
    origin = f"http://rebind.test:{port}"
    page = chromium.new_page()
    # The attacker's document, as first served by the attacker's DNS answer; after that the
    # name resolves to 127.0.0.1 (Chromium's resolver rule) and fetches go to the daemon.
    page.route(
        f"{origin}/attack.html",
        lambda route: route.fulfill(
            body="<!doctype html><title>rebind</title>", content_type="text/html"
        ),
    )
    try:
        page.goto(f"{origin}/attack.html")
        results = page.evaluate(
            """async ([reads, match]) => {
                const out = [];
                for (const [method, path] of reads) {
                    const init = method === "POST"
                        ? { method, headers: { "Content-Type": "application/json" }, body: match }
                        : { method };
                    const r = await fetch(path, init);
                    out.push([path, r.status, await r.text()]);
                }
                return out;
            }""",
            [REBIND_READS, json.dumps(MATCH)],
        )
    finally:
        page.close()
    assert len(results) == len(REBIND_READS)
    for path, status, text in results:
        assert status == 421, (path, status, text[:300])
        assert json.loads(text)["code"] == "bad_host", (path, text[:300])
    # The same daemon under its own name still answers (the refusal is the Host, not the path).
    with httpx.Client(base_url=daemon.url, timeout=5) as c:
        assert c.get("/v1/status").status_code == 200
