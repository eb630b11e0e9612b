"""Faithful fake upstream LLM servers (OpenAI, Anthropic, Ollama) with fault injection.

    with FakeUpstream("openai", keys={"sk-test"}) as fake:
        fake.add_fault(status=429, retry_after=1)
        client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
"""

from .content import TOOL_ARGUMENTS, Answer, Conversation, Turn, answer_for, embedding
from .faults import Fault, parse_fault
from .server import FakeUpstream, build_app
from .state import FakeState, Kind, RecordedRequest

__all__ = [
    "TOOL_ARGUMENTS",
    "Answer",
    "Conversation",
    "FakeState",
    "FakeUpstream",
    "Fault",
    "Kind",
    "RecordedRequest",
    "Turn",
    "answer_for",
    "build_app",
    "embedding",
    "parse_fault",
]
