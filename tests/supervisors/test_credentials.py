"""Which upstream refusals are about the key (and may take it out of rotation)."""

from __future__ import annotations

import orjson
import pytest

from supervisors.adapters.anthropic import parse_anthropic_error
from supervisors.adapters.openai import parse_openai_error
from supervisors.credentials import about_credential

pytestmark = pytest.mark.timeout(5)


def _openai(status: int, message: str, code: str | None = None,
            type_: str = "invalid_request_error") -> bool:
    body = orjson.dumps({"error": {"message": message, "type": type_, "param": None,
                                   "code": code}})
    return about_credential(status, parse_openai_error(status, body, {}, "p"))


def _anthropic(status: int, type_: str, message: str) -> bool:
    body = orjson.dumps({"type": "error", "error": {"type": type_, "message": message}})
    return about_credential(status, parse_anthropic_error(status, body, {}, "p"))


@pytest.mark.parametrize(("status", "message", "code", "expected"), [
    (401, "Incorrect API key provided: sk-abc...xyz.", "invalid_api_key", True),
    (401, "You have insufficient permissions for this operation.", None, True),
    (403, "Project `proj_abc` does not have access to model `gpt-4o`", "model_not_found",
     False),
    (403, "You are not allowed to sample from this model", None, False),
    (403, "Country, region, or territory not supported", "unsupported_country_region_territory",
     False),
    (403, "This model is disabled for your API key", None, False),
    (403, "upstream returned HTTP 403", None, False),
    (403, "Your API key has been revoked.", None, True),
    (403, "This key is invalid", None, True),
    (403, "API key not valid. Please pass a valid API key.", None, True),
    (403, "Your account has been deactivated", None, True),
    (403, "Access denied", "account_deactivated", True),
    (403, "Invalid authentication credentials", None, True),
    (404, "The model `x` does not exist", "model_not_found", False),
])
def test_openai_shaped_refusals(status: int, message: str, code: str | None,
                                expected: bool) -> None:
    assert _openai(status, message, code) is expected


@pytest.mark.parametrize(("status", "type_", "message", "expected"), [
    (401, "authentication_error", "invalid x-api-key", True),
    (403, "permission_error",
     "Your API key does not have permission to use the specified resource.", False),
    (403, "permission_error", "This organization has been disabled.", True),
    (403, "authentication_error", "OAuth token has been revoked", True),
])
def test_anthropic_refusals(status: int, type_: str, message: str, expected: bool) -> None:
    assert _anthropic(status, type_, message) is expected
