"""Idle memory: optional clients are imported only when their feature is configured.

The ``redis`` client (about 10 MB of modules, OpenTelemetry's metrics SDK included) only
with ``REDIS_URL``; OpenTelemetry only with an OTLP endpoint; the AWS SDK only for S3 or
KMS; tiktoken only for token counting; genai-prices (with pydantic, ~14 MB) with the first
request that needs a built-in price; yoyo only when a migration is pending. Importing every
module of the gateway except the optional parts themselves (``OPTIONAL_PARTS``, imported
where their feature is set up) must load none of them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OPTIONAL = ("redis", "opentelemetry", "botocore", "aiobotocore", "boto3", "tiktoken",
            "genai_prices", "pydantic", "yoyo")
OPTIONAL_PARTS = ("proxy.ratelimit.redis_backend", "proxy.ratelimit.failover", "proxy.ratelimit.outage",
                  "proxy.circuit_share", "proxy.cache.redis_backend", "proxy.spend.redis_ledger")

pytestmark = pytest.mark.timeout(60)


def test_importing_the_gateway_loads_no_optional_client() -> None:
    code = (
        "import importlib, pkgutil, sys, proxy, supervisors\n"
        "for pkg in (proxy, supervisors):\n"
        "    for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        f"        if mod.name not in {OPTIONAL_PARTS!r} and mod.name != 'proxy.__main__':\n"
        "            importlib.import_module(mod.name)\n"
        f"print(','.join(m for m in {OPTIONAL!r} if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=50)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "", f"imported at start: {run.stdout.strip()}"
