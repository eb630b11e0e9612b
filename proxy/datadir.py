"""Files under ``DATA_DIR`` are private to the proxy's user: directories 0700, files 0600.

They hold the generated secrets, the embedded database (with ``AUDIT_STORE_CONTENT``,
prompts and answers) and audit payloads. Directories the proxy creates get 0700 at every
level (``Path.mkdir(parents=True)`` would give the intermediate ones the umask's default);
the SQLite database is created 0600 before SQLite opens it (its ``-wal`` and ``-shm``
files take the database's permissions), and an existing one left readable by others by
an earlier version is tightened. Directories that already exist are left as they are.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "private_dirs", "private_file"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dirs(path: Path) -> None:
    """Create ``path`` and any missing parents, each 0700 (``NotADirectoryError`` when
    ``path`` is something else)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=DIR_MODE)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a directory")


def private_file(path: Path) -> None:
    """Make sure ``path`` exists and is 0600 (its directories created 0700)."""
    private_dirs(path.parent)
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if stat.S_IMODE(name.stat().st_mode) & 0o077:
                name.chmod(FILE_MODE)
