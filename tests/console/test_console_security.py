"""The console's security promises, over plain HTTP against the running gateway."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.harness import ProxyProcess

from .conftest import UPSTREAM_KEY, csrf_of, sign_in

PAGES = ["/ui/", "/ui/overview/tree", "/ui/providers", "/ui/providers/1", "/ui/routes",
         "/ui/keys", "/ui/usage", "/ui/audit", "/ui/audit/1"]
CHANGES = ["/ui/providers", "/ui/providers/1", "/ui/providers/1/delete", "/ui/providers/1/keys",
           "/ui/keys/1/rotate", "/ui/keys/1/delete", "/ui/mappings", "/ui/mappings/1/move",
           "/ui/mappings/1/delete", "/ui/api-keys", "/ui/api-keys/1/enabled",
           "/ui/api-keys/1/delete", "/ui/tenants", "/ui/tenants/1/delete"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_without_a_session_goes_to_sign_in(gateway: ProxyProcess, path: str) -> None:
    resp = httpx.get(gateway.url + path, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/ui/login"


@pytest.mark.parametrize("path", CHANGES)
def test_every_change_without_a_session_goes_to_sign_in(gateway: ProxyProcess, path: str) -> None:
    resp = httpx.post(gateway.url + path, data={"name": "x"}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/ui/login"


def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(
        gateway: ProxyProcess) -> None:
    client, token = sign_in(gateway.url)
    before = gateway.admin.http.get("/admin/api-keys").json()["data"]
    for data in ({"name": "no-token"}, {"name": "bad-token", "csrf": token[:-2] + "xx"}):
        resp = client.post("/ui/api-keys", data=data)
        assert resp.status_code == 403
    assert gateway.admin.http.get("/admin/api-keys").json()["data"] == before


def test_session_cookie_is_httponly_strict_and_expires(gateway: ProxyProcess) -> None:
    resp = httpx.get(gateway.url + "/ui/login")
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert re.search(r"Max-Age=\d+", cookie) and "expires=" in cookie.lower()
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_wrong_and_non_admin_credentials_are_slowed_and_counted(gateway: ProxyProcess) -> None:
    def failures() -> float:
        text = httpx.get(gateway.url + "/metrics").text
        found = re.search(r"^proxy_console_sign_in_failures_total(?:\{\})? (\S+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    before = failures()
    client_key = gateway.admin.client_key("plain-user")
    client = httpx.Client(base_url=gateway.url, follow_redirects=False, timeout=30)
    token = csrf_of(client.get("/ui/login").text)
    started = time.monotonic()
    for credential in ("sk-not-a-key", client_key):
        resp = client.post("/ui/login", data={"csrf": token, "credential": credential})
        assert resp.status_code == 401
    assert time.monotonic() - started >= 1.0  # slowed
    assert failures() - before == 2  # counted
    assert client.get("/ui/").status_code == 303  # still signed out


def test_sign_out_ends_the_session(gateway: ProxyProcess) -> None:
    client, token = sign_in(gateway.url)
    assert client.get("/ui/keys").status_code == 200
    assert client.post("/ui/logout", data={"csrf": token}).status_code == 303
    assert client.get("/ui/keys").status_code == 303


def test_no_secret_on_any_page_but_the_new_client_key_once(gateway: ProxyProcess) -> None:
    client, token = sign_in(gateway.url)
    resp = client.post("/ui/providers", data={
        "csrf": token, "name": "secretive", "provider_type": "openai",
        "base_url": "https://api.openai.com/v1", "config": "{}", "key": UPSTREAM_KEY})
    assert resp.status_code == 303
    created = client.post("/ui/api-keys", data={"csrf": token, "name": "shown-once"})
    assert created.status_code == 200
    new_key = re.search(r'id="new-key" value="(sk-proxy-[^"]+)"', created.text)
    assert new_key is not None
    provider_id = next(p["id"] for p in gateway.admin.http.get("/admin/providers").json()["data"]
                       if p["name"] == "secretive")
    for path in [*PAGES, f"/ui/providers/{provider_id}"]:
        html = client.get(path).text
        assert UPSTREAM_KEY not in html and new_key.group(1) not in html, path
        assert "sk-admin-test" not in html, path
    assert UPSTREAM_KEY[-4:] in client.get(f"/ui/providers/{provider_id}").text  # masked


def test_html_in_names_and_audit_content_stays_text(gateway: ProxyProcess) -> None:
    client, token = sign_in(gateway.url)
    payload = "<script>alert('x')</script>"
    assert client.post("/ui/api-keys", data={"csrf": token, "name": payload}).status_code == 200
    html = client.get("/ui/keys").text
    assert payload not in html and "&lt;script&gt;" in html
    # a client asks for a model named like markup: the audit page shows it as text
    key = gateway.admin.client_key("xss-asker")
    httpx.post(gateway.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
               json={"model": "<img src=x onerror=alert(1)>",
                     "messages": [{"role": "user", "content": "hi"}]})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        html = client.get("/ui/audit").text
        if "onerror" in html:
            break
        time.sleep(0.2)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html


def test_console_changes_are_logged_with_the_admin(gateway: ProxyProcess) -> None:
    client, token = sign_in(gateway.url)
    resp = client.post("/ui/tenants", data={"csrf": token, "name": "audited-tenant"})
    client.post("/ui/providers", data={"csrf": token, "name": "logged-provider",
                                       "provider_type": "mock", "config": "{}"})
    assert resp.status_code == 303
    time.sleep(0.3)
    lines = [ln for ln in gateway.logs().splitlines() if "logged-provider" in ln]
    assert lines and '"admin_key_name":"ADMIN_API_KEY"' in lines[0].replace(" ", "")
