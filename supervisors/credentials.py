"""Is an upstream refusal about the key we sent, or about the request?

Only an answer about the credential may take a key out of rotation; anything else is the
answer to that one request. Getting this wrong lets one client disable every key of a
provider: a 403 "project does not have access to model X" is reachable by any client
through ``provider/model`` addressing.

- 401 is always about the credential (HTTP: "lacks valid authentication credentials").
- 403 is about the credential only when the error says the key, token, account or
  organisation is invalid, revoked, expired, disabled or suspended. The common 403s are
  not: OpenAI's ``model_not_found`` ("Project `p` does not have access to model `m`"),
  ``unsupported_country_region_territory``; Anthropic's ``permission_error`` ("Your API key
  does not have permission to use the specified resource", a model or feature the key's
  workspace lacks — another model still works with the same key).

Pure: looks at the status and the parsed error only.
"""

from __future__ import annotations

import re

from .errors import ProxyError

__all__ = ["about_credential"]

#: error codes / types that name a bad credential, as providers send them
_CREDENTIAL_CODES = frozenset({
    "invalid_api_key", "incorrect_api_key", "api_key_invalid", "api_key_expired",
    "api_key_revoked", "key_revoked", "revoked_api_key", "expired_api_key",
    "account_deactivated", "account_disabled", "account_suspended", "invalid_organization",
    "organization_deactivated", "organization_disabled", "consumer_suspended",
    "authentication_error", "invalid_authentication", "unauthenticated",
})
_SUBJECT = (r"(?:api[\s_-]?key|access[\s_-]?key|secret[\s_-]?key|key|credentials?|"
            r"(?:access[\s_-]?)?token|account|organi[sz]ation|subscription|project)")
_BAD = (r"(?:invalid|incorrect|revoked|expired|disabled|deactivated|suspended|deleted|"
        r"blocked|banned|inactive|not\s+valid|no\s+longer\s+valid)")
_CREDENTIAL_TEXT = re.compile(
    # "invalid api key", "revoked token", "Incorrect API key provided"
    rf"\b{_BAD}\s+(?:\w+\s+)?{_SUBJECT}\b"
    # "API key not valid", "this key has been revoked", "your account is deactivated"
    rf"|\b{_SUBJECT}\s+(?:(?:is|was|has\s+been|have\s+been|are)\s+)?(?:\w+\s+)?{_BAD}\b",
    re.IGNORECASE,
)


def about_credential(status: int, err: ProxyError) -> bool:
    """True when the upstream's ``status``/``err`` says the key itself is bad."""
    if status == 401:
        return True
    if status != 403:
        return False
    for label in (err.code, err.type):
        if isinstance(label, str) and label.lower() in _CREDENTIAL_CODES:
            return True
    return bool(_CREDENTIAL_TEXT.search(err.message))
