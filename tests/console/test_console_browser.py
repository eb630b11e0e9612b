"""The console in a real headless Chromium (Debian's, driven by Playwright from PyPI):
an operator's whole first day, with a screenshot of every page under
``test-artifacts/console/``."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.fakes import FakeUpstream
from tests.harness import ADMIN_KEY, REPO, ProxyProcess
from tests.services import on_ci

from .conftest import UPSTREAM_KEY

ROTATED_KEY = "sk-upstream-rotated-secret-8765"
ARTIFACTS = Path(os.environ.get("CONSOLE_ARTIFACTS", REPO / "test-artifacts" / "console"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser_page() -> Iterator[object]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if on_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            yield page
        finally:
            browser.close()


def _shot(page: object, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


@pytest.mark.timeout(180)
def test_an_operators_first_day_in_the_console(
        browser_page: object, gateway: ProxyProcess, upstream: FakeUpstream) -> None:
    page = browser_page
    ui = gateway.url + "/ui"
    admin = gateway.admin

    # sign in
    page.goto(ui + "/")  # type: ignore[attr-defined]
    assert page.url.endswith("/ui/login")  # type: ignore[attr-defined]
    _shot(page, "01-sign-in")
    page.get_by_label("Admin credential").fill(ADMIN_KEY)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.get_by_role("heading", name="Overview").wait_for()  # type: ignore[attr-defined]

    # two providers, each with a key
    for name in ("primary", "secondary"):
        page.goto(ui + "/providers")  # type: ignore[attr-defined]
        page.get_by_label("Name").fill(name)  # type: ignore[attr-defined]
        page.get_by_label("Type").select_option("openai")  # type: ignore[attr-defined]
        page.get_by_label("Base URL").fill(upstream.base_url)  # type: ignore[attr-defined]
        page.get_by_label("Config (JSON)").fill('{"max_retries": 0}')  # type: ignore[attr-defined]
        page.get_by_label("First upstream key").fill(UPSTREAM_KEY)  # type: ignore[attr-defined]
        page.get_by_role("button", name="Create provider").click()  # type: ignore[attr-defined]
        page.get_by_text("Provider created.").wait_for()  # type: ignore[attr-defined]
    _shot(page, "02-providers")
    names = {p["name"]: p["id"] for p in admin.http.get("/admin/providers").json()["data"]}

    # an alias chain of the two, then reordered
    for provider, model, order in (("primary", "gpt-4o-mini", "0"), ("secondary", "gpt-4o", "1")):
        page.goto(ui + "/routes")  # type: ignore[attr-defined]
        page.get_by_label("Alias").fill("console-model")  # type: ignore[attr-defined]
        page.get_by_label("Provider").select_option(str(names[provider]))  # type: ignore[attr-defined]
        page.get_by_label("Upstream model").fill(model)  # type: ignore[attr-defined]
        page.get_by_label("Order").fill(order)  # type: ignore[attr-defined]
        page.get_by_role("button", name="Add to chain").click()  # type: ignore[attr-defined]
        page.get_by_text("Chain entry added.").wait_for()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Move primary/gpt-4o-mini of console-model down").click()  # type: ignore[attr-defined]
    page.get_by_text("Chain reordered.").wait_for()  # type: ignore[attr-defined]
    _shot(page, "03-routes")
    chain = sorted((m for m in admin.http.get("/admin/mappings").json()["data"]
                    if m["alias_name"] == "console-model"), key=lambda m: m["order_index"])
    assert [m["provider_id"] for m in chain] == [names["secondary"], names["primary"]]

    # a client key, copied from the page
    page.goto(ui + "/keys")  # type: ignore[attr-defined]
    page.get_by_label("Name", exact=True).first.fill("browser-team")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Create key").click()  # type: ignore[attr-defined]
    field = page.get_by_label("Client key", exact=True)  # type: ignore[attr-defined]
    client_key = field.input_value()
    assert client_key.startswith("sk-proxy-")
    page.get_by_role("button", name="Copy").click()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Copied").wait_for()  # type: ignore[attr-defined]
    copied = page.evaluate("navigator.clipboard.readText()")  # type: ignore[attr-defined]
    assert copied == client_key
    _shot(page, "04-keys")

    # the key works with the official SDK, and the request is in the audit page
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=client_key, max_retries=0)
    raw = sdk.chat.completions.with_raw_response.create(
        model="console-model", messages=[{"role": "user", "content": "hello"}])
    assert raw.headers["x-proxy-provider"] == "secondary"  # the reordered chain
    request_id = raw.headers["x-request-id"]
    page.goto(ui + "/audit")  # type: ignore[attr-defined]
    link = page.get_by_role("link", name=request_id)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 15  # the audit trail is written in batches, off the hot path
    while True:
        page.get_by_label("Request id").fill(request_id)  # type: ignore[attr-defined]
        page.get_by_role("button", name="Filter").click()  # type: ignore[attr-defined]
        if link.count() or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    link.click()
    page.get_by_role("heading", name=f"Request {request_id}").wait_for()  # type: ignore[attr-defined]
    _shot(page, "05-audit-record")

    # rotate the secondary's key: the new secret serves, shown only masked
    page.goto(f"{ui}/providers/{names['secondary']}")  # type: ignore[attr-defined]
    page.get_by_label("New secret for key-1").fill(ROTATED_KEY)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Rotate").click()  # type: ignore[attr-defined]
    page.get_by_text("Key rotated.").wait_for()  # type: ignore[attr-defined]
    assert ROTATED_KEY[-4:] in page.content() and ROTATED_KEY not in page.content()  # type: ignore[attr-defined]
    _shot(page, "06-provider")
    upstream.requests.clear()
    sdk.chat.completions.create(model="console-model",
                                messages=[{"role": "user", "content": "again"}])
    assert upstream.requests[-1].key == ROTATED_KEY

    # disable the client key: refused from then on
    page.goto(ui + "/keys")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Disable browser-team").click()  # type: ignore[attr-defined]
    page.get_by_text("Key disabled.").wait_for()  # type: ignore[attr-defined]
    with pytest.raises(openai.AuthenticationError):
        sdk.chat.completions.create(model="console-model",
                                    messages=[{"role": "user", "content": "refused"}])

    # the remaining pages render, then sign out
    for path, name in (("/", "07-overview"), ("/usage", "08-usage"), ("/audit", "09-audit")):
        page.goto(ui + path)  # type: ignore[attr-defined]
        _shot(page, name)
    page.get_by_role("button", name="Sign out").click()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").wait_for()  # type: ignore[attr-defined]
    page.goto(ui + "/keys")  # type: ignore[attr-defined]
    assert page.url.endswith("/ui/login")  # type: ignore[attr-defined]
