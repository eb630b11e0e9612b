"""Secrets at start-up: taken from the environment, or on the embedded default
generated once and kept in the data directory (mode 0600).

With PostgreSQL configured (a shared deployment) missing secrets stop start-up instead:
replicas must share them, so they cannot be made up per machine.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from .config import ConfigError, Settings
from .crypto import generate_fernet_key
from .datadir import private_dirs

__all__ = ["ensure_secrets"]

_FILES = {
    "secret_key": ("SECRET_KEY", "secret_key"),
    "encryption_key": ("ENCRYPTION_KEY", "encryption_key"),
    "admin_api_key": ("ADMIN_API_KEY", "admin_api_key"),
}


def _read_or_create(path: Path, make: str) -> tuple[str, bool]:
    if path.exists():
        return path.read_text().strip(), False
    private_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(make + "\n")
    return make, True


def ensure_secrets(settings: Settings, *, announce: bool = True) -> Settings:
    missing = [f for f in _FILES if getattr(settings, f) is None]
    if not missing:
        return settings
    if settings.database_backend == "postgresql":
        names = ", ".join(_FILES[f][0] for f in missing)
        raise ConfigError(f"{names} must be set when DATABASE_URL points at PostgreSQL")
    values: dict[str, str] = {}
    for field in missing:
        env_name, filename = _FILES[field]
        make = {
            "secret_key": secrets.token_urlsafe(32),
            "encryption_key": generate_fernet_key(),
            "admin_api_key": "sk-admin-" + secrets.token_urlsafe(32),
        }[field]
        value, created = _read_or_create(settings.data_dir / filename, make)
        values[field] = value
        if created and announce:
            where = settings.data_dir / filename
            if field == "admin_api_key":
                print(f"Generated ADMIN_API_KEY (shown once, kept in {where}): {value}",
                      file=sys.stderr)
            else:
                print(f"Generated {env_name} and kept it in {where} (mode 0600)", file=sys.stderr)
    return settings.with_overrides(**values)
