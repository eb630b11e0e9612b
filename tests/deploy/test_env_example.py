""".env.example documents every variable the app reads, with its default, and holds no
secret value."""

from __future__ import annotations

import re

import pytest

from tests.deploy.contract import APP_ENV_DEFAULTS, REPO, SECRET_ENV

ENV_EXAMPLE = REPO / ".env.example"
_ASSIGNMENT = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def _entries() -> dict[str, tuple[bool, str, str]]:
    """name -> (commented out, value, the comment line just above)."""
    entries: dict[str, tuple[bool, str, str]] = {}
    previous = ""
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = _ASSIGNMENT.match(line.strip())
        if match:
            name = match.group(2)
            assert name not in entries, f"{name} is listed twice"
            entries[name] = (bool(match.group(1)), match.group(3), previous)
        previous = line.strip()
    return entries


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", sorted(APP_ENV_DEFAULTS))
def test_variable_is_documented_with_its_default(name: str) -> None:
    entries = _entries()
    assert name in entries, f"{name} missing from .env.example"
    _, value, comment = entries[name]
    assert comment.startswith("#") and not _ASSIGNMENT.match(comment), (
        f"{name} needs a one-line explanation above it"
    )
    assert len(comment.lstrip("# ")) > 8, f"{name}: explanation too short"
    if APP_ENV_DEFAULTS[name]:
        assert value == APP_ENV_DEFAULTS[name], f"{name} default is {APP_ENV_DEFAULTS[name]}"


@pytest.mark.timeout(10)
def test_no_secret_is_set() -> None:
    for name in (*SECRET_ENV, "S3_SECRET_KEY", "S3_ACCESS_KEY", "OPENAI_API_KEY", "DATABASE_URL"):
        commented, value, _ = _entries()[name]
        assert commented or not value, f"{name} must not carry a value in .env.example"


@pytest.mark.timeout(10)
def test_every_variable_compose_interpolates_is_documented() -> None:
    compose = (REPO / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", compose))
    assert used, "compose interpolates nothing?"
    assert used <= set(_entries()), f"undocumented: {sorted(used - set(_entries()))}"
