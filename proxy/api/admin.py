"""The admin API (``/admin/...``)."""

from __future__ import annotations

from aiohttp import web

__all__ = ["setup_routes"]


def setup_routes(app: web.Application) -> None:
    """Admin routes are added by the admin API module."""
