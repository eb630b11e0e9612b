"""What the command line prints when it cannot go on: one line, no traceback.

Configuration errors (a variable or flag with a wrong value, a key that decrypts
nothing) exit 2; a dependency that cannot be reached (PostgreSQL, a port already taken)
exits 1. Each line names the variable, or the address and the underlying message.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["EXIT_CONFIG", "EXIT_UNAVAILABLE", "Unreachable", "database_address", "reason"]

EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 1


class Unreachable(Exception):
    """A dependency could not be reached; the message carries its address."""


def database_address(url: str) -> str:
    """``DATABASE_URL`` as it can be shown: the password replaced by ``****``."""
    if url.startswith("sqlite"):
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def reason(exc: BaseException) -> str:
    """The most specific message in ``exc``'s chain, on one line.

    Our own wrappers (``PostgreSQL unavailable: OSError``) name only a class; the
    driver's error underneath says what happened (``Connection refused``, ``password
    authentication failed``), so the deepest cause with a message wins.
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for candidate in reversed(chain):
        text = " ".join(str(candidate).split())
        if text:
            return _shorten(text)
    return type(exc).__name__


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
