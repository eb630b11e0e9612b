"""``openai-proxy apply -f gateway.yaml`` and ``export`` against a running gateway: a diff
first (``--dry-run`` changes nothing), idempotent (the second apply has no change),
secrets only by reference, ``export | apply --dry-run`` shows no change, unknown config
keys refused naming them, objects not in the file kept unless ``--prune``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from proxy.crypto import generate_fernet_key
from tests.fakes import FakeUpstream
from tests.harness import ADMIN_KEY, ProxyProcess

pytestmark = pytest.mark.timeout(90)

UPSTREAM_KEY = "sk-upstream-apply-0123456789"
HEADER_SECRET = "hdr-secret-apply-9876"

GATEWAY = """
providers:
  - name: mock
    provider_type: mock
  - name: up
    provider_type: openai
    base_url: {base_url}
    config: {{timeout: 30, max_retries: 0, headers: {{x-secret: {{env: HEADER_SECRET}}}}}}
    keys:
      - name: main
        key: {{env: UPSTREAM_KEY}}
models:
  - alias: smart
    chain:
      - {{provider: up, model: gpt-4o-mini, config: {{temperature: 0.2}}}}
      - {{provider: mock, model: mock-small}}
tenants:
  - name: a
    rpm_limit: 1000
    budget_usd: 500
client_keys:
  - name: team-a
    tenant: a
    rpm_limit: 600
    allowed_models: [smart]
    budget_usd: 25
"""


def cli(tmp: Path, env: dict[str, str], *args: str,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy", *args], cwd=tmp, input=stdin,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=45)


def test_apply_is_a_diff_then_idempotent_and_export_round_trips(tmp_path: Path) -> None:
    env = {"SECRET_KEY": "secret-" + "k" * 30, "ENCRYPTION_KEY": generate_fernet_key(),
           "ADMIN_API_KEY": ADMIN_KEY, "DATA_DIR": str(tmp_path / "data"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'proxy.db'}",
           "UPSTREAM_KEY": UPSTREAM_KEY, "HEADER_SECRET": HEADER_SECRET}
    with FakeUpstream("openai", keys={UPSTREAM_KEY}) as fake:
        proc = ProxyProcess(tmp_path, env=env).start()
        try:
            gateway = tmp_path / "gateway.yaml"
            gateway.write_text(GATEWAY.format(base_url=fake.base_url))

            dry = cli(tmp_path, env, "apply", "-f", str(gateway), "--dry-run")
            assert dry.returncode == 0, dry.stderr
            assert "+ provider up (openai" in dry.stdout and "+ client key team-a" in dry.stdout
            assert "+ tenant a (rpm_limit=1000, budget_usd=500)" in dry.stdout
            assert "+ model smart[0] -> up/gpt-4o-mini" in dry.stdout
            assert "dry run, nothing applied" in dry.stdout
            assert proc.admin.http.get("/admin/providers").json()["data"] == []

            first = cli(tmp_path, env, "apply", "-f", str(gateway))
            assert first.returncode == 0, first.stderr
            assert "applied 6 change(s)" in first.stdout
            key = next(line.rsplit(" ", 1)[1] for line in first.stdout.splitlines()
                       if line.startswith("new client key team-a (shown once): "))
            for secret in (UPSTREAM_KEY, HEADER_SECRET):
                assert secret not in first.stdout + first.stderr

            # the running gateway serves it (config version check), upstream key included
            with openai.OpenAI(base_url=proc.url + "/v1", api_key=key, max_retries=0) as client:
                deadline = time.monotonic() + 10
                while True:
                    try:
                        answer = client.chat.completions.with_raw_response.create(
                            model="smart", messages=[{"role": "user", "content": "hi"}])
                        break
                    except (openai.AuthenticationError, openai.NotFoundError):
                        assert time.monotonic() < deadline
                        time.sleep(0.2)
            assert answer.headers["x-proxy-provider"] == "up"

            second = cli(tmp_path, env, "apply", "-f", str(gateway))
            assert second.returncode == 0 and second.stdout.strip() == "no changes", second.stdout

            exported = cli(tmp_path, env, "export")
            assert exported.returncode == 0, exported.stderr
            for secret in (UPSTREAM_KEY, HEADER_SECRET, key):
                assert secret not in exported.stdout
            again = cli(tmp_path, env, "apply", "-f", "-", "--dry-run", stdin=exported.stdout)
            assert again.returncode == 0, again.stderr
            assert again.stdout.strip() == "no changes", again.stdout

            # a changed policy is an update of the same key (it keeps working)
            gateway.write_text(gateway.read_text().replace("rpm_limit: 600", "rpm_limit: 700"))
            change = cli(tmp_path, env, "apply", "-f", str(gateway), "--dry-run")
            assert "~ client key team-a: rpm_limit 600 -> 700" in change.stdout
            assert cli(tmp_path, env, "apply", "-f", str(gateway)).returncode == 0
            keys = proc.admin.http.get("/admin/api-keys").json()["data"]
            assert [(k["rpm_limit"], k["budget_usd"]) for k in keys
                    if k["name"] == "team-a"] == [(700, 25)]
            tenants = proc.admin.http.get("/admin/tenants").json()["data"]
            assert [(t["name"], t["budget_usd"]) for t in tenants] == [("a", 500)]

            # what is not in the file is kept and listed; --prune deletes it
            proc.admin.provider("manual", "mock")
            kept = cli(tmp_path, env, "apply", "-f", str(gateway))
            assert "provider manual: not in the file, kept" in kept.stdout
            pruned = cli(tmp_path, env, "apply", "-f", str(gateway), "--prune")
            assert "- provider manual" in pruned.stdout
            names = [p["name"] for p in proc.admin.http.get("/admin/providers").json()["data"]]
            assert sorted(names) == ["mock", "up"]
        finally:
            proc.stop()


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (("timeout: 30", "timeuot: 30"), "providers[1].config.timeuot"),
        (("temperature: 0.2", "temprature: 0.2"), "models[0].chain[0].config.temprature"),
        (("{env: UPSTREAM_KEY}", "sk-inline-secret-123"), "providers[1].keys[0].key"),
        (("rpm_limit: 600", "rpm_limit: -1"), "client_keys[0].rpm_limit"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_place_and_changes_nothing(
    tmp_path: Path, edit: tuple[str, str], named: str
) -> None:
    env = {"DATA_DIR": str(tmp_path / "data"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'proxy.db'}",
           "UPSTREAM_KEY": UPSTREAM_KEY, "HEADER_SECRET": HEADER_SECRET}
    gateway = tmp_path / "gateway.yaml"
    text = GATEWAY.format(base_url="http://127.0.0.1:9/v1")
    assert edit[0] in text
    gateway.write_text(text.replace(*edit))
    result = cli(tmp_path, env, "apply", "-f", str(gateway))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [x for x in result.stderr.splitlines() if x.strip() and not x.startswith("Generated")]
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert "sk-inline-secret-123" not in result.stderr
    assert cli(tmp_path, env, "export").stdout.count("name:") == 0
