"""The OpenAI Agents SDK (`openai-agents`) with the gateway as its OpenAI base URL, in
Responses mode, runs an agent with one function tool to completion; Anthropic behind."""

from __future__ import annotations

import json

import openai
import pytest
from agents import Agent, OpenAIResponsesModel, RunConfig, Runner, function_tool

from .conftest import Gateway

pytestmark = pytest.mark.timeout(120)


async def test_an_agent_with_a_function_tool_runs_to_completion(gateway: Gateway) -> None:
    calls: list[str] = []

    @function_tool
    def get_weather(city: str, unit: str) -> str:
        """The weather in a city."""
        calls.append(f"{city}/{unit}")
        return f"sunny in {city}"

    async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=gateway.key,
                                  max_retries=0, timeout=30) as client:
        agent = Agent(
            name="weather",
            instructions="You answer weather questions with the get_weather tool.",
            tools=[get_weather],
            model=OpenAIResponsesModel(model="r-anthropic", openai_client=client),
        )
        result = await Runner.run(agent, "please call tool for the weather",
                                  run_config=RunConfig(tracing_disabled=True))
    assert calls == ["Paris/c"]  # the fake model asked for the tool with these arguments
    assert isinstance(result.final_output, str) and result.final_output
    kinds = [item.type for item in result.new_items]
    assert kinds == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    sent = [r.json for r in gateway.fakes["r-anthropic"].requests if r.path.endswith("/messages")]
    assert "sunny in Paris" in json.dumps(sent[-1]["messages"])


async def test_a_streamed_agent_run_with_a_tool_completes(gateway: Gateway) -> None:
    @function_tool
    def get_weather(city: str, unit: str) -> str:
        """The weather in a city."""
        return f"rainy in {city}"

    async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=gateway.key,
                                  max_retries=0, timeout=30) as client:
        agent = Agent(name="weather", instructions="Use the tool.", tools=[get_weather],
                      model=OpenAIResponsesModel(model="r-ollama", openai_client=client))
        run = Runner.run_streamed(agent, "please call tool now",
                                  run_config=RunConfig(tracing_disabled=True))
        kinds = [event.type async for event in run.stream_events()]
    assert "raw_response_event" in kinds and "run_item_stream_event" in kinds
    assert isinstance(run.final_output, str) and run.final_output
    assert [item.type for item in run.new_items] == [
        "tool_call_item", "tool_call_output_item", "message_output_item"]


async def test_an_agent_continues_a_server_side_conversation(gateway: Gateway) -> None:
    async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=gateway.key,
                                  max_retries=0, timeout=30) as client:
        agent = Agent(name="echo", instructions="Repeat.",
                      model=OpenAIResponsesModel(model="r-openai", openai_client=client))
        config = RunConfig(tracing_disabled=True)
        first = await Runner.run(agent, "echo:remember me", run_config=config)
        assert first.final_output == "remember me" and first.last_response_id
        second = await Runner.run(agent, "echo:and again", run_config=config,
                                  previous_response_id=first.last_response_id)
    assert second.final_output == "and again"
    sent = gateway.fakes["r-openai"].requests[-1].json["messages"]
    assert [m["content"] for m in sent] == ["Repeat.", "echo:remember me", "remember me",
                                           "echo:and again"]
