"""One contract for every Store implementation, run against real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from proxy.crypto import DecryptionError, KeyRing, generate_fernet_key
from proxy.store import (
    AuditFilter,
    AuditRecord,
    Conflict,
    MissingReference,
    Store,
    open_store,
)

pytestmark = pytest.mark.timeout(30)


async def _provider(store: Store, name: str = "openai", **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "name": name,
        "provider_type": "openai",
        "base_url": "https://api.openai.com/v1",
        "config": {"timeout": 30, "headers": {"x-a": "b"}},
        "enabled": True,
    }
    fields.update(overrides)
    return await store.create_provider(**fields)


async def _mapping(store: Store, provider_id: int, alias: str = "gpt", order: int = 0) -> Any:
    return await store.create_mapping(
        alias_name=alias,
        provider_id=provider_id,
        provider_model_name="gpt-4o-mini",
        order_index=order,
        is_default=False,
        config={"temperature": 0.2},
    )


async def _api_key(store: Store, key_hash: str = "h" * 64, **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "name": "ci",
        "key_hash": key_hash,
        "key_prefix": "sk-proxy-abc",
        "tenant": "acme",
        "is_admin": False,
        "rpm_limit": 60,
        "tpm_limit": None,
        "allowed_models": ["gpt", "claude"],
        "expires_at": None,
    }
    fields.update(overrides)
    return await store.create_api_key(**fields)


def _audit(when: datetime, **fields: Any) -> AuditRecord:
    return AuditRecord(created_at=when, request_id=fields.pop("request_id", "r"),
                       endpoint="/v1/chat/completions", status=fields.pop("status", 200),
                       latency_ms=12.5, **fields)


def _is_utc(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() == timedelta(0)


async def test_provider_crud_round_trips_every_field(store: Store) -> None:
    created = await _provider(store)
    assert created.id > 0 and created.name == "openai" and created.enabled is True
    assert created.config == {"timeout": 30, "headers": {"x-a": "b"}}
    assert _is_utc(created.created_at) and _is_utc(created.updated_at)
    assert await store.get_provider(created.id) == created
    assert await store.list_providers() == [created]

    updated = await store.update_provider(created.id, enabled=False, config={"timeout": 5})
    assert updated is not None
    assert (updated.enabled, updated.config, updated.name) == (False, {"timeout": 5}, "openai")
    assert updated.updated_at >= created.updated_at
    assert await store.get_provider(created.id) == updated

    assert await store.delete_provider(created.id) is True
    assert await store.get_provider(created.id) is None
    assert await store.delete_provider(created.id) is False
    assert await store.update_provider(created.id, enabled=True) is None


async def test_update_rejects_unknown_fields(store: Store) -> None:
    provider = await _provider(store)
    with pytest.raises(TypeError):
        await store.update_provider(provider.id, id=99)
    with pytest.raises(TypeError):
        await store.update_mapping(1, provider_id_x=1)


async def test_duplicate_provider_name_is_a_conflict_on_create_and_update(store: Store) -> None:
    await _provider(store, "a")
    other = await _provider(store, "b")
    with pytest.raises(Conflict) as created:
        await _provider(store, "a")
    assert created.value.field == "name"
    with pytest.raises(Conflict) as renamed:
        await store.update_provider(other.id, name="a")
    assert renamed.value.field == "name"
    assert [p.name for p in await store.list_providers()] == ["a", "b"]
    assert (await store.update_provider(other.id, name="b")) is not None  # own name is fine


async def test_same_member_twice_in_a_group_is_a_conflict(store: Store) -> None:
    provider = await _provider(store)
    other = await _provider(store, name="other")
    await _mapping(store, provider.id, "gpt", 0)
    second = await _mapping(store, provider.id, "gpt", 1)
    await _mapping(store, provider.id, "other", 0)  # same order, other alias: fine
    member = await _mapping(store, other.id, "gpt", 0)  # another provider: a group
    with pytest.raises(Conflict) as created:
        await _mapping(store, provider.id, "gpt", 0)
    assert created.value.field == "order_index"
    with pytest.raises(Conflict):
        await store.update_mapping(second.id, order_index=0)
    with pytest.raises(Conflict):
        await store.update_mapping(member.id, provider_id=provider.id)
    with pytest.raises(Conflict):
        await store.update_mapping(second.id, alias_name="other", order_index=0)
    moved = await store.update_mapping(second.id, order_index=5, config={"top_p": 1})
    assert moved is not None and (moved.order_index, moved.config) == (5, {"top_p": 1})
    grouped = [m for m in await store.list_mappings() if m.alias_name == "gpt"]
    assert [(m.order_index, m.provider_id) for m in grouped] == [
        (0, provider.id), (0, other.id), (5, provider.id)]


async def test_missing_provider_is_a_missing_reference(store: Store) -> None:
    with pytest.raises(MissingReference) as key_error:
        await store.create_provider_key(
            provider_id=404, name="k", key_encrypted="x", key_last4="abcd"
        )
    assert key_error.value.field == "provider_id"
    with pytest.raises(MissingReference):
        await _mapping(store, 404)
    provider = await _provider(store)
    mapping = await _mapping(store, provider.id)
    with pytest.raises(MissingReference):
        await store.update_mapping(mapping.id, provider_id=404)
    assert (await store.get_mapping(mapping.id)) == mapping


async def test_deleting_a_provider_cascades_to_keys_and_mappings(store: Store) -> None:
    doomed, kept = await _provider(store, "doomed"), await _provider(store, "kept")
    for provider in (doomed, kept):
        await store.create_provider_key(
            provider_id=provider.id, name="k", key_encrypted="tok", key_last4="wxyz"
        )
        await _mapping(store, provider.id, alias=provider.name)
    assert await store.delete_provider(doomed.id)
    assert [k.provider_id for k in await store.list_provider_keys()] == [kept.id]
    assert [m.provider_id for m in await store.list_mappings()] == [kept.id]
    assert await store.list_provider_keys(doomed.id) == []


async def test_provider_keys_crud(store: Store) -> None:
    provider = await _provider(store)
    key = await store.create_provider_key(
        provider_id=provider.id, name="main", key_encrypted="tok1", key_last4="1234"
    )
    assert (key.healthy, key.key_last4, key.key_encrypted) == (True, "1234", "tok1")
    assert await store.get_provider_key(key.id) == key
    assert await store.list_provider_keys(provider.id) == [key]
    marked = await store.update_provider_key(key.id, healthy=False)
    assert marked is not None and marked.healthy is False
    rotated = await store.update_provider_key(key.id, key_encrypted="tok2", key_last4="5678")
    assert rotated is not None and (rotated.key_encrypted, rotated.key_last4) == ("tok2", "5678")
    assert await store.delete_provider_key(key.id) is True
    assert await store.get_provider_key(key.id) is None
    assert await store.update_provider_key(key.id, healthy=True) is None


async def test_config_version_bumps_once_per_change_and_never_for_no_ops(store: Store) -> None:
    versions = [await store.config_version()]

    async def step() -> None:
        versions.append(await store.config_version())
        assert versions[-1] == versions[-2] + 1, versions

    provider = await _provider(store)
    await step()
    await store.update_provider(provider.id, enabled=False)
    await step()
    key = await store.create_provider_key(
        provider_id=provider.id, name="k", key_encrypted="t", key_last4="abcd"
    )
    await step()
    await store.update_provider_key(key.id, healthy=False)
    await step()
    mapping = await _mapping(store, provider.id)
    await step()
    await store.update_mapping(mapping.id, is_default=True)
    await step()
    api_key = await _api_key(store)
    await step()
    await store.delete_api_key(api_key.id)
    await step()
    await store.reencrypt_provider_keys(lambda token: token + "!")
    await step()
    await store.delete_mapping(mapping.id)
    await step()
    await store.delete_provider_key(key.id)
    await step()
    await store.delete_provider(provider.id)
    await step()

    before = await store.config_version()
    assert await store.delete_provider(provider.id) is False
    assert await store.update_mapping(mapping.id, order_index=3) is None
    await _provider(store, "x")
    with pytest.raises(Conflict):
        await _provider(store, "x")
    await store.insert_audit([_audit(datetime.now(UTC))])
    assert await store.config_version() == before + 1  # only the one successful create


async def test_load_config_is_a_consistent_snapshot(store: Store) -> None:
    empty = await store.load_config()
    assert (empty.providers, empty.provider_keys, empty.mappings, empty.api_keys) == ([], [], [], [])
    a, b = await _provider(store, "a"), await _provider(store, "b", enabled=False)
    key = await store.create_provider_key(
        provider_id=a.id, name="k", key_encrypted="t", key_last4="abcd"
    )
    m1 = await _mapping(store, b.id, "gpt", 1)
    m0 = await _mapping(store, a.id, "gpt", 0)
    api_key = await _api_key(store)
    snapshot = await store.load_config()
    assert snapshot.version == await store.config_version()
    assert snapshot.providers == [a, b]
    assert snapshot.provider_keys == [key]
    assert snapshot.mappings == [m0, m1]  # chain order: by alias, then order_index
    assert snapshot.api_keys == [api_key]


async def test_api_key_rows_keep_limits_models_and_expiry(store: Store) -> None:
    expires = datetime(2031, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    created = await _api_key(store, "a" * 64, expires_at=expires, is_admin=True)
    unlimited = await _api_key(store, "b" * 64, allowed_models=None, tenant=None, rpm_limit=None)
    assert created.expires_at == expires and _is_utc(created.expires_at)
    assert (created.is_admin, created.rpm_limit, created.allowed_models) == (
        True, 60, ["gpt", "claude"]
    )
    assert (unlimited.allowed_models, unlimited.tenant, unlimited.rpm_limit) == (None, None, None)
    assert await store.get_api_key(created.id) == created
    assert await store.list_api_keys() == [created, unlimited]
    with pytest.raises(Conflict) as clash:
        await _api_key(store, "a" * 64)
    assert clash.value.field == "key_hash"
    assert await store.delete_api_key(created.id) is True
    assert await store.delete_api_key(created.id) is False
    assert await store.list_api_keys() == [unlimited]


async def test_audit_batch_insert_then_page_and_filter(store: Store) -> None:
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    records = [
        _audit(
            start + timedelta(minutes=i),
            request_id=f"req-{i}",
            status=200 if i % 3 else 502,
            tenant="acme" if i % 2 else "globex",
            api_key_id=i % 4,
            provider="openai" if i < 5 else "anthropic",
            alias="gpt",
            upstream_model="gpt-4o",
            stream=bool(i % 2),
            prompt_tokens=i,
            completion_tokens=2 * i,
            total_tokens=3 * i,
            attempts=1 + i % 2,
            fallback_reasons=["timeout"] if i == 7 else [],
            error="boom" if i == 7 else None,
            payload_key=f"payloads/{i}.json",
        )
        for i in range(10)
    ]
    await store.insert_audit(records)
    await store.insert_audit([])

    everything = await store.list_audit(limit=100, after_id=None, filters=AuditFilter())
    assert [r.request_id for r in everything] == [f"req-{i}" for i in range(10)]
    assert all(r.id is not None and _is_utc(r.created_at) for r in everything)
    seventh = everything[7]
    assert (seventh.fallback_reasons, seventh.error, seventh.stream, seventh.total_tokens) == (
        ["timeout"], "boom", True, 21
    )
    assert seventh.created_at == start + timedelta(minutes=7)

    pages: list[str] = []
    after: int | None = None
    while page := await store.list_audit(limit=3, after_id=after, filters=AuditFilter()):
        pages += [r.request_id for r in page]
        after = page[-1].id
    assert pages == [r.request_id for r in everything]

    def ids(**kw: Any) -> Any:
        return store.list_audit(limit=100, after_id=None, filters=AuditFilter(**kw))

    assert [r.request_id for r in await ids(tenant="acme")] == [f"req-{i}" for i in (1, 3, 5, 7, 9)]
    assert [r.request_id for r in await ids(status=502)] == ["req-0", "req-3", "req-6", "req-9"]
    assert [r.request_id for r in await ids(api_key_id=2)] == ["req-2", "req-6"]
    assert len(await ids(provider="anthropic")) == 5
    window = await ids(since=start + timedelta(minutes=2), until=start + timedelta(minutes=4))
    assert [r.request_id for r in window] == ["req-2", "req-3"]
    combined = await ids(tenant="acme", provider="openai", status=200)
    assert [r.request_id for r in combined] == ["req-1"]


async def test_prune_audit_deletes_old_records_and_returns_their_payload_keys(
    store: Store,
) -> None:
    now = datetime.now(UTC)
    await store.insert_audit([
        _audit(now - timedelta(days=40), request_id="old-1", payload_key="p/old-1"),
        _audit(now - timedelta(days=35), request_id="old-2"),
        _audit(now - timedelta(days=1), request_id="new", payload_key="p/new"),
    ])
    keys = await store.prune_audit(now - timedelta(days=30))
    assert keys == ["p/old-1"]
    left = await store.list_audit(limit=10, after_id=None, filters=AuditFilter())
    assert [r.request_id for r in left] == ["new"]
    assert await store.prune_audit(now - timedelta(days=30)) == []


async def test_reencrypt_moves_every_key_to_the_new_first_key(store: Store) -> None:
    old_key, new_key = generate_fernet_key(), generate_fernet_key()
    old_ring = KeyRing([old_key])
    provider = await _provider(store)
    for i in range(3):
        await store.create_provider_key(
            provider_id=provider.id, name=f"k{i}", key_encrypted=old_ring.encrypt(f"sk-{i}"),
            key_last4=f"sk-{i}"[-4:],
        )
    both = KeyRing([new_key, old_key])
    assert await store.reencrypt_provider_keys(both.rotate) == 3
    new_only = KeyRing([new_key])
    keys = await store.list_provider_keys()
    assert [new_only.decrypt(k.key_encrypted) for k in keys] == ["sk-0", "sk-1", "sk-2"]
    with pytest.raises(DecryptionError):
        old_ring.decrypt(keys[0].key_encrypted)


async def test_reencrypt_failure_changes_nothing(store: Store) -> None:
    ring = KeyRing([generate_fernet_key()])
    provider = await _provider(store)
    good = await store.create_provider_key(
        provider_id=provider.id, name="good", key_encrypted=ring.encrypt("sk-good"),
        key_last4="good",
    )
    await store.create_provider_key(
        provider_id=provider.id, name="bad", key_encrypted="not-a-token", key_last4="xxxx"
    )
    version = await store.config_version()
    with pytest.raises(DecryptionError):
        await store.reencrypt_provider_keys(KeyRing([generate_fernet_key()]).rotate)
    assert (await store.get_provider_key(good.id)) == good
    assert await store.config_version() == version


async def test_timestamps_are_stored_as_utc_whatever_zone_they_came_in(store: Store) -> None:
    eastern = timezone(timedelta(hours=-5))
    when = datetime(2024, 1, 1, 7, 0, tzinfo=eastern)
    await store.insert_audit([_audit(when), _audit(datetime(2024, 1, 1, 11, 0))])  # naive = UTC
    records = await store.list_audit(limit=10, after_id=None, filters=AuditFilter())
    assert [r.created_at for r in records] == [
        datetime(2024, 1, 1, 12, 0, tzinfo=UTC),
        datetime(2024, 1, 1, 11, 0, tzinfo=UTC),
    ]
    assert all(_is_utc(r.created_at) for r in records)
    since = await store.list_audit(
        limit=10, after_id=None, filters=AuditFilter(since=datetime(2024, 1, 1, 6, 30, tzinfo=eastern))
    )
    assert [r.created_at.hour for r in since] == [12]


async def test_reopening_keeps_the_data(migrated_url: str) -> None:
    first = await open_store(migrated_url)
    try:
        provider = await _provider(first)
        await _api_key(first)
        await first.insert_audit([_audit(datetime.now(UTC))])
    finally:
        await first.aclose()
    await first.aclose()  # closing twice is harmless

    second = await open_store(migrated_url)
    try:
        assert await second.get_provider(provider.id) == provider
        assert len(await second.list_api_keys()) == 1
        assert len(await second.list_audit(limit=5, after_id=None, filters=AuditFilter())) == 1
        assert await second.is_migrated() and await second.ping()
    finally:
        await second.aclose()


async def test_health_reports_unmigrated_database(database_url: str) -> None:
    store = await open_store(database_url)
    try:
        assert await store.ping() is True
        assert await store.is_migrated() is False
    finally:
        await store.aclose()


async def test_the_first_stored_kms_data_key_wins(store: Store) -> None:
    assert await store.wrapped_data_key("arn:aws:kms:eu-west-1:1:key/k") is None
    first = await store.store_wrapped_data_key("arn:aws:kms:eu-west-1:1:key/k", "wrapped-one")
    second = await store.store_wrapped_data_key("arn:aws:kms:eu-west-1:1:key/k", "wrapped-two")
    assert first == second == "wrapped-one"
    assert await store.wrapped_data_key("arn:aws:kms:eu-west-1:1:key/k") == "wrapped-one"
    assert await store.wrapped_data_key("alias/other") is None
