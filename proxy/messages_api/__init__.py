"""Anthropic's Messages API in the gateway's terms: request checks, translation to and
from OpenAI chat for providers that do not speak it, the event stream, errors, token
estimates. Pure functions and per-request objects; no I/O."""
