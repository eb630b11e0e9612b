"""The official `openai` SDK's Responses API against the gateway, on every provider type."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import Response

from tests.fakes import TOOL_ARGUMENTS

from .conftest import ALIASES, TOOL_ALIASES, Gateway

PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
         "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                           "unit": {"type": "string"}},
                          "required": ["city"]}}


def _shape(response: Response) -> dict[str, Any]:
    """What a streamed and a whole answer must share (ids and times differ)."""
    return {
        "status": response.status,
        "model": response.model,
        "output": [
            {k: v for k, v in item.model_dump().items() if k not in ("id", "parsed_arguments")}
            if item.type == "function_call" else
            {"type": item.type, "role": item.role, "status": item.status,
             "text": [c.model_dump(exclude={"parsed"}) for c in item.content]}
            for item in response.output
        ],
        "usage": response.usage.model_dump() if response.usage else None,
        "settings": response.model_dump(include={
            "instructions", "tools", "tool_choice", "temperature", "top_p", "text",
            "parallel_tool_calls", "max_output_tokens", "metadata", "store"}),
    }


@pytest.mark.parametrize("alias", list(ALIASES))
def test_string_input_with_instructions(client: openai.OpenAI, alias: str) -> None:
    response = client.responses.create(model=alias, input="echo:hello there",
                                       instructions="Answer briefly.", metadata={"k": "v"})
    assert response.id.startswith("resp_")
    assert response.object == "response"
    assert response.status == "completed"
    assert response.output_text
    assert response.instructions == "Answer briefly."
    assert response.metadata == {"k": "v"}
    assert response.usage is not None and response.usage.total_tokens > 0
    message = response.output[0]
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "output_text"
    assert message.content[0].annotations == []


@pytest.mark.parametrize("alias", list(ALIASES))
def test_item_input_with_an_image(client: openai.OpenAI, alias: str) -> None:
    response = client.responses.create(model=alias, input=[
        {"role": "developer", "content": "You describe images."},
        {"role": "user", "content": [
            {"type": "input_text", "text": "echo:a tiny image"},
            {"type": "input_image", "image_url": PIXEL, "detail": "low"}]},
    ])
    assert response.status == "completed"
    assert response.output_text


@pytest.mark.parametrize("alias", list(ALIASES))
def test_streamed_answer_assembles_into_the_whole_answer(client: openai.OpenAI,
                                                         alias: str) -> None:
    kwargs: dict[str, Any] = {"model": alias, "input": "echo:one two three four",
                              "instructions": "be brief", "temperature": 0.5}
    whole = client.responses.create(**kwargs)
    with client.responses.stream(**kwargs) as stream:
        types = [event.type for event in stream]
        streamed = stream.get_final_response()
    assert types[:2] == ["response.created", "response.in_progress"]
    assert "response.output_text.delta" in types
    assert types[-1] == "response.completed"
    assert _shape(streamed) == _shape(whole)
    assert streamed.output_text == whole.output_text
    if alias != "r-mock":  # the mock answers "This is a mock response to: ..."
        assert whole.output_text == "one two three four"


@pytest.mark.parametrize("alias", TOOL_ALIASES)
@pytest.mark.parametrize("stream", [False, True])
def test_two_step_function_call_via_previous_response_id(client: openai.OpenAI, alias: str,
                                                          stream: bool) -> None:
    def create(**kwargs: Any) -> Response:
        if not stream:
            return client.responses.create(model=alias, tools=[WEATHER], **kwargs)
        with client.responses.stream(model=alias, tools=[WEATHER], **kwargs) as s:
            for _ in s:
                pass
            return s.get_final_response()

    first = create(input=f"please call tool with {json.dumps(TOOL_ARGUMENTS)}")
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == TOOL_ARGUMENTS
    assert calls[0].call_id and calls[0].status == "completed"
    second = create(previous_response_id=first.id, input=[
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 21 C"}])
    assert second.status == "completed"
    assert second.output_text
    assert second.previous_response_id == first.id


@pytest.mark.parametrize("alias", TOOL_ALIASES)
def test_two_step_function_call_with_items_passed_back_by_hand(client: openai.OpenAI,
                                                                alias: str) -> None:
    conversation: list[Any] = [{"role": "user", "content": "please call tool"}]
    if alias == "r-mock":
        conversation[0]["content"] += f" with {json.dumps(TOOL_ARGUMENTS)}"
    first = client.responses.create(model=alias, tools=[WEATHER], input=conversation,
                                    store=False)
    assert first.store is False
    call = next(item for item in first.output if item.type == "function_call")
    conversation += [item.model_dump(exclude_none=True) for item in first.output]
    conversation.append({"type": "function_call_output", "call_id": call.call_id,
                         "output": "sunny"})
    second = client.responses.create(model=alias, tools=[WEATHER], input=conversation,
                                      store=False)
    assert second.status == "completed" and second.output_text
    with pytest.raises(openai.NotFoundError):  # store: false keeps nothing
        client.responses.retrieve(first.id)


@pytest.mark.parametrize("alias", [a for a in TOOL_ALIASES if a != "r-mock"])
def test_json_schema_output_reaches_the_provider(gateway: Gateway, client: openai.OpenAI,
                                                 alias: str) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}},
              "required": ["answer"], "additionalProperties": False}
    response = client.responses.create(
        model=alias, input="echo:{\"answer\": \"yes\"}",
        text={"format": {"type": "json_schema", "name": "answer", "schema": schema,
                         "strict": True}})
    assert json.loads(response.output_text) == {"answer": "yes"}
    assert response.text is not None and response.text.format is not None
    assert response.text.format.type == "json_schema"
    sent = gateway.fakes[alias].requests[-1].json
    wire = json.dumps(sent)
    assert '"answer"' in wire and "additionalProperties" in wire  # the schema went upstream


async def test_async_client_create_stream_and_retrieve(aclient: openai.AsyncOpenAI) -> None:
    created = await aclient.responses.create(model="r-anthropic", input="echo:async hello")
    assert created.output_text == "async hello"
    async with aclient.responses.stream(model="r-ollama", input="echo:streamed async",
                                        previous_response_id=created.id) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_response()
    assert final.output_text == "streamed async"
    fetched = await aclient.responses.retrieve(created.id)
    assert fetched.output_text == created.output_text


def test_previous_response_carries_input_and_output_not_instructions(
        gateway: Gateway, client: openai.OpenAI) -> None:
    first = client.responses.create(model="r-openai", input="echo:first answer",
                                    instructions="FIRST-INSTRUCTIONS")
    client.responses.create(model="r-openai", input="echo:second", previous_response_id=first.id,
                            instructions="SECOND-INSTRUCTIONS")
    messages = gateway.fakes["r-openai"].requests[-1].json["messages"]
    texts = [m.get("content") for m in messages]
    assert texts == ["SECOND-INSTRUCTIONS", "echo:first answer", "first answer", "echo:second"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]


def test_retrieve_input_items_and_delete(client: openai.OpenAI) -> None:
    created = client.responses.create(model="r-mock", input=[
        {"role": "user", "content": "one"}, {"role": "user", "content": "two"},
        {"role": "user", "content": "three"}])
    assert client.responses.retrieve(created.id).model_dump() == created.model_dump()
    items = client.responses.input_items.list(created.id)
    assert [i.content[0].text for i in items.data] == ["three", "two", "one"]
    page = client.responses.input_items.list(created.id, order="asc", limit=2)
    assert [i.content[0].text for i in page.data] == ["one", "two"]
    assert page.has_more is True and page.first_id == page.data[0].id
    rest = client.responses.input_items.list(created.id, order="asc", after=page.last_id)
    assert [i.content[0].text for i in rest.data] == ["three"]
    assert rest.has_more is False
    everything = [i.id for i in client.responses.input_items.list(created.id, order="asc",
                                                                     limit=1)]
    assert len(everything) == 3  # the SDK pages with `after` until has_more is false
    follow_up = client.responses.create(model="r-mock", input="four",
                                        previous_response_id=created.id)
    listed = client.responses.input_items.list(follow_up.id, order="asc")
    assert [i.type for i in listed.data] == ["message"] * 5
    assert [i.role for i in listed.data] == ["user", "user", "user", "assistant", "user"]
    assert listed.data[3].content[0].text == created.output_text
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    assert len(client.responses.input_items.list(follow_up.id).data) == 1  # its own input
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(created.id)


def test_only_the_same_tenant_reads_continues_or_deletes(gateway: Gateway,
                                                         client: openai.OpenAI) -> None:
    created = client.responses.create(model="r-mock", input="private")
    with gateway.client(gateway.other_tenant_key) as other:
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(created.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.input_items.list(created.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.delete(created.id)
        with pytest.raises(openai.NotFoundError) as caught:
            other.responses.create(model="r-mock", input="x", previous_response_id=created.id)
        assert caught.value.code == "previous_response_not_found"
    with gateway.client(gateway.same_tenant_key) as colleague:
        assert colleague.responses.retrieve(created.id).id == created.id
        colleague.responses.create(model="r-mock", input="y", previous_response_id=created.id)


def test_built_in_tools_are_left_out_and_named(gateway: Gateway) -> None:
    body = {"model": "r-openai", "input": "hi",
            "tools": [{"type": "web_search"}, WEATHER, {"type": "code_interpreter",
                                                         "container": {"type": "auto"}}]}
    resp = httpx.post(gateway.url + "/v1/responses", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {gateway.key}"})
    assert resp.status_code == 200
    assert resp.headers["x-proxy-ignored-tools"] == "web_search,code_interpreter"
    sent = gateway.fakes["r-openai"].requests[-1].json
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather"]


BAD_BODIES: list[tuple[str, dict[str, Any], int, str | None]] = [
    ("unknown item type", {"input": [{"type": "telepathy"}]}, 400, "input[0].type"),
    ("forced built-in tool", {"input": "x", "tools": [{"type": "web_search"}],
                              "tool_choice": {"type": "web_search"}}, 400, "tool_choice"),
    ("unknown previous", {"input": "x", "previous_response_id": "resp_nope"}, 404,
     "previous_response_id"),
    ("input of wrong type", {"input": {"text": "x"}}, 400, "input"),
    ("temperature string", {"input": "x", "temperature": "warm"}, 400, "temperature"),
    ("tools not objects", {"input": "x", "tools": ["web_search"]}, 400, "tools[0]"),
    ("content wrong type", {"input": [{"role": "user", "content": 5}]}, 400,
     "input[0].content"),
    ("background", {"input": "x", "background": True}, 400, "background"),
]


@pytest.mark.parametrize(("name", "body", "status", "param"), BAD_BODIES,
                         ids=[b[0] for b in BAD_BODIES])
def test_bad_input_is_an_openai_shaped_4xx(gateway: Gateway, name: str, body: dict[str, Any],
                                           status: int, param: str | None) -> None:
    resp = httpx.post(gateway.url + "/v1/responses", json={"model": "r-mock", **body},
                      timeout=30, headers={"Authorization": f"Bearer {gateway.key}"})
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["message"] and error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_ids_and_pages_that_do_not_exist_are_4xx(gateway: Gateway) -> None:
    headers = {"Authorization": f"Bearer {gateway.key}"}
    for path in ("/v1/responses/nope", "/v1/responses/resp_%00x/input_items",
                 "/v1/responses/" + "r" * 5000):
        resp = httpx.get(gateway.url + path, headers=headers, timeout=30)
        assert resp.status_code in (404, 414), (path, resp.status_code)
    resp = httpx.get(gateway.url + "/v1/responses/x/input_items?limit=abc", headers=headers,
                     timeout=30)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "limit"
    resp = httpx.get(gateway.url + "/v1/responses/x", timeout=30)
    assert resp.status_code == 401


def test_responses_are_audited_and_counted_like_every_request(gateway: Gateway,
                                                              client: openai.OpenAI) -> None:
    created = client.responses.create(model="r-openai", input="echo:count me")
    assert created.usage is not None
    admin = {"Authorization": "Bearer " + gateway.proc.admin.http.headers["Authorization"][7:]}
    records: list[dict[str, Any]] = []
    for _ in range(50):  # the audit trail is written in batches, off the hot path
        page = httpx.get(gateway.url + "/admin/audit", params={"tenant": "team-a", "limit": 1000},
                         headers=admin, timeout=10).json()
        records = [r for r in page["data"] if r["endpoint"] == "/v1/responses"
                   and r["alias"] == "r-openai" and r["prompt_tokens"] == created.usage.input_tokens
                   and r["completion_tokens"] == created.usage.output_tokens]
        if records:
            break
        time.sleep(0.1)
    assert records and records[-1]["provider"] == "openai" and records[-1]["status"] == 200
    client.responses.retrieve(created.id)
    metrics = httpx.get(gateway.url + "/metrics", timeout=10).text
    assert 'endpoint="/v1/responses"' in metrics
    assert 'endpoint="/v1/responses/{response_id}"' in metrics


@pytest.mark.parametrize("alias", list(ALIASES))
@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_cut_by_max_output_tokens_is_incomplete(client: openai.OpenAI, alias: str,
                                                          stream: bool) -> None:
    kwargs: dict[str, Any] = {"model": alias, "input": "tokens:40", "max_output_tokens": 5}
    if stream:
        with client.responses.stream(**kwargs) as s:
            events = list(s)
        assert events[-1].type == "response.incomplete"
        response = client.responses.retrieve(events[-1].response.id)
    else:
        response = client.responses.create(**kwargs)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.max_output_tokens == 5
    assert response.output[0].status == "incomplete"


@pytest.mark.parametrize("stream", [False, True])
def test_the_answer_cache_serves_responses_keyed_on_the_whole_conversation(
        gateway: Gateway, client: openai.OpenAI, stream: bool) -> None:
    first = client.responses.create(model="r-openai", input=f"echo:cache seed {stream}")
    headers = {"x-proxy-cache-ttl": "300"}

    def ask(previous: str | None) -> tuple[str, str | None, str]:
        raw = client.responses.with_raw_response.create(
            model="r-openai", input=f"echo:cached answer {stream}", previous_response_id=previous,
            stream=stream, extra_headers=headers)
        if stream:
            events = list(raw.parse())
            final = events[-1].response
        else:
            final = raw.parse()
        return final.id, raw.headers.get("x-proxy-cache"), final.output_text

    a_id, a_cache, a_text = ask(first.id)
    b_id, b_cache, b_text = ask(first.id)
    c_id, c_cache, _ = ask(None)  # same input, another conversation: not the same answer
    assert (a_cache, b_cache, c_cache) == ("miss", "hit", "miss")
    assert a_text == b_text == f"cached answer {stream}" and len({a_id, b_id, c_id}) == 3
    assert client.responses.retrieve(b_id).output_text == f"cached answer {stream}"
