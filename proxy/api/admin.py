"""The admin API (``/admin/...``), closed to everything but admin credentials.

Authentication: ``Authorization: Bearer <ADMIN_API_KEY or a client key with is_admin>``;
no key or a wrong one → 401, a valid non-admin key → 403, on every admin route.

| routes | module |
| --- | --- |
| ``GET/POST /admin/providers``, ``GET/PATCH/DELETE /admin/providers/{id}`` | ``admin_providers`` |
| ``GET/POST /admin/keys``, ``GET/DELETE /admin/keys/{id}``, ``POST /admin/keys/{id}/rotate`` | ``admin_keys`` |
| ``GET/POST /admin/mappings``, ``GET/PATCH/DELETE /admin/mappings/{id}`` | ``admin_mappings`` |
| ``GET /admin/routes`` (aliases → groups of members, with live load) | ``admin_routes`` |
| ``GET/POST /admin/api-keys``, ``GET/PATCH/DELETE /admin/api-keys/{id}`` | ``admin_api_keys`` |
| ``GET/POST /admin/tenants``, ``GET/PATCH/DELETE /admin/tenants/{id}`` | ``admin_tenants`` |
| ``GET /admin/usage``, ``GET /admin/prices`` | ``admin_usage`` |
| ``GET /admin/health``, ``GET /admin/audit``, ``POST /admin/encryption/rotate`` | ``admin_ops`` |

Conventions (all routes):

- Bodies are JSON objects. An unknown field is a 400 naming it (``code:
  unknown_parameter``); a missing required field or a value of the wrong type or range is
  a 400 with ``param`` naming the field. Unknown query parameters are a 400 too.
- Ids are integers. An ``{id}`` in a path that is not a positive integer is a **404**,
  the same as an id that does not exist (no row can have it); ids inside bodies and
  query strings (``provider_id``) that are not integers are a 400.
- Lists answer ``{"object": "list", "data": [...]}``; create → 201 with the new row;
  delete → 200 ``{"id": ..., "deleted": true}``; unique clashes → 409 (``param`` names
  the field); a reference to a missing provider → 400; database down → 503.
- Timestamps are ISO-8601 UTC (``2024-05-01T12:00:00.123456Z``).
- **Deleting a provider deletes its provider keys and model mappings** (cascade); the
  response says how many: ``{"id", "deleted": true, "deleted_keys", "deleted_mappings"}``.
- Secrets: provider keys are write-only (encrypted before they reach the store, shown as
  ``key_masked``); a client key's plaintext appears once, in its creation response.
  Neither is ever logged. Every change is logged once at INFO with the admin key's id.
- Every successful change reloads this replica's configuration before the response, so
  it routes at once; other replicas follow via NOTIFY / ``config_version`` polling.
- Texts: at most 200 characters (aliases and model names 256, ``base_url`` 2048,
  secrets 4096), no control characters; provider names use letters, digits, ``._-``.
"""

from __future__ import annotations

from aiohttp import web

from . import (
    admin_api_keys,
    admin_keys,
    admin_mappings,
    admin_ops,
    admin_providers,
    admin_routes,
    admin_tenants,
    admin_usage,
)

__all__ = ["setup_routes"]


def setup_routes(app: web.Application) -> None:
    admin_providers.setup_routes(app)
    admin_keys.setup_routes(app)
    admin_mappings.setup_routes(app)
    admin_routes.setup_routes(app)
    admin_api_keys.setup_routes(app)
    admin_tenants.setup_routes(app)
    admin_usage.setup_routes(app)
    admin_ops.setup_routes(app)
