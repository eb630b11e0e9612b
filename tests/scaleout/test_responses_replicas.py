"""Stored responses across replicas on one PostgreSQL: a response created on one replica
is read and continued on the other at once (the next request, no waiting by the client)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.fakes import FakeUpstream

from .cluster import Cluster, ScaleAdmin, converge, sdk, shared_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

UPSTREAM_KEY = "sk-responses-replicas-0001"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream("openai", keys={UPSTREAM_KEY}) as fake:
        yield fake


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, database_url: str,
            upstream: FakeUpstream) -> Iterator[tuple[Cluster, str, str]]:
    tmp: Path = tmp_path_factory.mktemp("responses-replicas")
    with Cluster(tmp, 2, shared_env(database_url, None)) as c:
        with ScaleAdmin(c.replicas[0].url) as admin:
            up = admin.provider("up", "openai", upstream.base_url, keys=[UPSTREAM_KEY])
            admin.mapping("r", up["id"], "gpt-4o-mini")
            key = admin.client_key("a", tenant="tenant-a")
            other = admin.client_key("b", tenant="tenant-b")
        since = time.monotonic()

        def ready(url: str) -> bool:
            try:
                with sdk(url, key, timeout=5) as client:
                    client.responses.create(model="r", input="ping", store=False)
                return True
            except openai.APIError:
                return False

        converged = converge(ready, [r.url for r in c.replicas], since, deadline=10.0)
        assert len(converged) == 2, c.logs()
        yield c, key, other


def test_a_response_is_continued_on_the_other_replica_at_once(
        cluster: tuple[Cluster, str, str], upstream: FakeUpstream) -> None:
    c, key, other = cluster
    a, b = (sdk(r.url, key) for r in c.replicas)
    with a, b:
        for turn in range(6):
            first_on, then_on = (a, b) if turn % 2 == 0 else (b, a)
            first = first_on.responses.create(model="r", input=f"echo:turn {turn} first")
            if turn % 3 == 2:
                with then_on.responses.stream(model="r", input="echo:and then",
                                              previous_response_id=first.id) as stream:
                    for _ in stream:
                        pass
                    second = stream.get_final_response()
            else:
                second = then_on.responses.create(model="r", input="echo:and then",
                                                  previous_response_id=first.id)
            assert second.output_text == "and then"
            messages = upstream.requests[-1].json["messages"]
            assert [m["content"] for m in messages] == [
                f"echo:turn {turn} first", f"turn {turn} first", "echo:and then"]
            assert then_on.responses.retrieve(second.id).id == second.id
            assert first_on.responses.retrieve(second.id).output_text == "and then"


def test_another_tenant_gets_404_on_every_replica(cluster: tuple[Cluster, str, str]) -> None:
    c, key, other = cluster
    with sdk(c.replicas[0].url, key) as owner:
        created = owner.responses.create(model="r", input="secret")
    for replica in c.replicas:
        with sdk(replica.url, other) as stranger:
            with pytest.raises(openai.NotFoundError):
                stranger.responses.retrieve(created.id)
            with pytest.raises(openai.NotFoundError):
                stranger.responses.create(model="r", input="x", previous_response_id=created.id)
