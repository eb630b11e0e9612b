"""The OpenAI Responses API over the gateway's chat completions.

One translation layer, used by every provider: a Responses request becomes the gateway's
internal chat request (``request``, ``items``), and the chat answer or its chunks become a
``response`` object (``output``) or typed stream events (``events``). Stored responses and
``previous_response_id`` live in ``state``.
"""
