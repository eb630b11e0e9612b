from __future__ import annotations

from collections import Counter

import pytest

from supervisors.keypool import KeyPool, PoolKey
from supervisors.masking import mask_secret, redact_secret
from tests.supervisors import FakeClock

pytestmark = pytest.mark.timeout(5)

KEYS = [(1, "a", "sk-aaaaaaaa1111"), (2, "b", "sk-bbbbbbbb2222"), (3, "c", "sk-cccccccc3333")]


WALL = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def make_pool(keys=KEYS, recheck_interval: float = 60.0) -> tuple[KeyPool, FakeClock]:
    clock = FakeClock()
    pool = KeyPool(keys, recheck_interval=recheck_interval, clock=clock, wall=lambda: WALL)
    return pool, clock


def ids(pool: KeyPool, n: int) -> list[int | str | None]:
    out: list[int | str | None] = []
    for _ in range(n):
        key = pool.acquire()
        out.append(None if key is None else key.id)
    return out


def key(pool: KeyPool, key_id: int) -> PoolKey:
    for _ in range(pool.total):
        candidate = pool.acquire()
        if candidate is not None and candidate.id == key_id:
            return candidate
    raise AssertionError(f"key {key_id} is not handed out")


@pytest.mark.parametrize(
    ("secret", "masked"),
    [
        (None, "****"),
        ("", "****"),
        ("abc", "****"),
        ("1234567", "****"),
        ("12345678", "****5678"),
        ("sk-proj-verylongsecretXYZW", "****XYZW"),
    ],
)
def test_mask_secret(secret: str | None, masked: str) -> None:
    assert mask_secret(secret) == masked


def test_redact_secret_masks_every_occurrence() -> None:
    text = "Incorrect API key provided: sk-aaaaaaaa1111 (sk-aaaaaaaa1111)"
    assert redact_secret(text, "sk-aaaaaaaa1111") == (
        "Incorrect API key provided: ****1111 (****1111)"
    )
    assert redact_secret(text, "") == text


def test_round_robin_is_fair() -> None:
    pool, _ = make_pool()
    assert ids(pool, 7) == [1, 2, 3, 1, 2, 3, 1]
    assert Counter(ids(pool, 300)) == {1: 100, 2: 100, 3: 100}


def test_round_robin_skips_unusable_keys_and_stays_fair() -> None:
    pool, _ = make_pool()
    pool.cool_down(key(pool, 2), 30.0, "429")
    assert Counter(ids(pool, 100)) == {1: 50, 3: 50}


def test_exclude_skips_keys_already_tried() -> None:
    pool, _ = make_pool()
    first = pool.acquire()
    assert first is not None
    second = pool.acquire(exclude={first.id})
    assert second is not None and second.id != first.id
    third = pool.acquire(exclude=[first.id, second.id])
    assert third is not None and third.id not in (first.id, second.id)
    assert pool.acquire(exclude=(1, 2, 3)) is None


def test_empty_pool_has_nothing() -> None:
    pool, _ = make_pool(keys=[])
    assert pool.acquire() is None
    assert pool.next_available_in() is None
    assert pool.recheck_candidate() is None
    assert (pool.total, pool.healthy_count) == (0, 0)


def test_cool_down_ends_by_itself() -> None:
    pool, clock = make_pool(keys=KEYS[:1])
    only = key(pool, 1)
    pool.cool_down(only, 20.0, "429 rate limited")
    assert pool.acquire() is None
    assert pool.healthy_count == 0
    assert pool.next_available_in() == pytest.approx(20.0)
    clock.advance(19.0)
    assert pool.acquire() is None
    assert pool.next_available_in() == pytest.approx(1.0)
    clock.advance(1.0)
    assert pool.acquire() is only
    assert pool.next_available_in() == 0.0


def test_a_shorter_cool_down_does_not_cut_a_longer_one() -> None:
    pool, clock = make_pool(keys=KEYS[:1])
    only = key(pool, 1)
    pool.cool_down(only, 20.0, "429")
    pool.cool_down(only, 1.0, "429")
    clock.advance(5.0)
    assert pool.acquire() is None


def test_next_available_in_picks_the_soonest_cooling_key() -> None:
    pool, _ = make_pool()
    pool.cool_down(key(pool, 1), 30.0, "429")
    pool.cool_down(key(pool, 2), 5.0, "429")
    pool.mark_unauthorized(key(pool, 3), "401")
    assert pool.next_available_in() == pytest.approx(5.0)


def test_no_wait_helps_when_every_key_is_unauthorized() -> None:
    pool, _ = make_pool(keys=KEYS[:2])
    pool.mark_unauthorized(key(pool, 1), "401")
    pool.mark_unauthorized(key(pool, 2), "403")
    assert pool.acquire() is None
    assert pool.next_available_in() is None


def test_unauthorized_key_stays_out_until_success() -> None:
    pool, clock = make_pool(keys=KEYS[:2])
    bad = key(pool, 1)
    pool.mark_unauthorized(bad, "401 invalid key")
    clock.advance(10_000.0)
    assert ids(pool, 4) == [2, 2, 2, 2]  # time alone never heals it
    pool.mark_success(bad)
    assert bad.healthy and bad.last_error is None
    assert Counter(ids(pool, 2)) == {1: 1, 2: 1}


def test_recheck_candidate_once_per_interval() -> None:
    pool, clock = make_pool(recheck_interval=60.0)
    bad = key(pool, 2)
    pool.mark_unauthorized(bad, "401")
    assert pool.recheck_candidate() is None  # just failed
    clock.advance(59.0)
    assert pool.recheck_candidate() is None
    clock.advance(1.0)
    assert pool.recheck_candidate() is bad
    assert pool.recheck_candidate() is None  # handed out: not again this interval
    clock.advance(60.0)
    assert pool.recheck_candidate() is bad
    pool.mark_success(bad)
    clock.advance(600.0)
    assert pool.recheck_candidate() is None  # healthy keys are not re-checked


def test_recheck_candidate_hands_out_the_longest_waiting_first() -> None:
    pool, clock = make_pool(recheck_interval=60.0)
    pool.mark_unauthorized(key(pool, 3), "401")
    clock.advance(10.0)
    pool.mark_unauthorized(key(pool, 1), "401")
    clock.advance(100.0)
    first = pool.recheck_candidate()
    second = pool.recheck_candidate()
    assert (first and first.id, second and second.id) == (3, 1)
    assert pool.recheck_candidate() is None


def test_failed_recheck_restarts_the_interval() -> None:
    pool, clock = make_pool(recheck_interval=60.0)
    bad = key(pool, 1)
    pool.mark_unauthorized(bad, "401")
    clock.advance(60.0)
    assert pool.recheck_candidate() is bad
    clock.advance(5.0)
    pool.mark_unauthorized(bad, "401 again")
    clock.advance(59.0)
    assert pool.recheck_candidate() is None
    clock.advance(1.0)
    assert pool.recheck_candidate() is bad


def test_replace_keeps_health_of_unchanged_keys_only() -> None:
    pool, _ = make_pool()
    k1, k2 = key(pool, 1), key(pool, 2)
    pool.mark_unauthorized(k1, "401")
    pool.mark_unauthorized(k2, "401")
    pool.replace(
        [
            (1, "a-renamed", "sk-aaaaaaaa1111"),  # unchanged secret: stays unhealthy
            (2, "b", "sk-rotated-2222b"),  # rotated: starts healthy
            (4, "d", "sk-dddddddd4444"),  # new
        ]
    )  # key 3 removed
    snap = {row["id"]: row for row in pool.snapshot()}
    assert set(snap) == {1, 2, 4}
    assert (snap[1]["healthy"], snap[1]["name"]) == (False, "a-renamed")
    assert snap[2]["healthy"] and snap[2]["last_error"] is None
    assert snap[4]["healthy"]
    assert Counter(ids(pool, 4)) == {2: 2, 4: 2}


def test_outcomes_on_a_rotated_key_object_do_not_touch_the_pool() -> None:
    pool, _ = make_pool(keys=KEYS[:1])
    old = key(pool, 1)
    pool.replace([(1, "a", "sk-new-secret-9999")])
    pool.mark_unauthorized(old, "401 for the old secret")
    pool.cool_down(old, 60.0, "429")
    fresh = pool.acquire()
    assert fresh is not None and fresh is not old and fresh.secret == "sk-new-secret-9999"
    assert fresh.healthy and fresh.last_error is None


def test_replace_rejects_duplicate_ids() -> None:
    pool, _ = make_pool()
    with pytest.raises(ValueError):
        pool.replace([(1, "a", "x" * 10), (1, "b", "y" * 10)])


def test_replace_with_fewer_keys_keeps_round_robin_going() -> None:
    pool, _ = make_pool()
    ids(pool, 2)  # cursor now points at the 3rd key
    pool.replace(KEYS[:1])
    assert ids(pool, 3) == [1, 1, 1]


def test_snapshot_never_shows_the_secret() -> None:
    pool, clock = make_pool()
    k1, k2 = key(pool, 1), key(pool, 2)
    pool.cool_down(k1, 30.0, "429 from upstream for sk-aaaaaaaa1111")
    pool.mark_unauthorized(k2, "401: Incorrect API key provided: sk-bbbbbbbb2222")
    clock.advance(10.0)
    rows = pool.snapshot()
    text = repr(rows) + repr(k1)
    for _, _, secret in KEYS:
        assert secret not in text
    assert rows[0] == {
        "id": 1,
        "name": "a",
        "key_masked": "****1111",
        "healthy": True,
        "cooling_for": 20.0,
        "last_error": "429 from upstream for ****1111",
        "last_error_at": "2026-01-01T00:00:00.000Z",
        "recovered_at": None,
    }
    assert rows[1]["healthy"] is False
    assert rows[1]["last_error"] == "401: Incorrect API key provided: ****2222"
    assert k1.masked == "****1111"
    pool.mark_success(k2)  # it works again: when is shown, the error cleared
    assert pool.snapshot()[1]["recovered_at"] == "2026-01-01T00:00:00.000Z"
    assert pool.snapshot()[1]["last_error"] is None


def test_counts() -> None:
    pool, clock = make_pool()
    pool.cool_down(key(pool, 1), 5.0, "429")
    pool.mark_unauthorized(key(pool, 2), "401")
    assert (pool.total, pool.healthy_count) == (3, 1)
    clock.advance(5.0)
    assert pool.healthy_count == 2


def test_string_ids_are_supported() -> None:
    pool, _ = make_pool(keys=[("env-1", "from env", "sk-env-key-0001")])
    got = pool.acquire(exclude={"other"})
    assert got is not None and got.id == "env-1"


def test_a_key_taken_out_is_offered_for_a_re_check_well_before_five_minutes() -> None:
    clock = FakeClock()
    pool = KeyPool(KEYS[:1], clock=clock)  # the default interval
    only = key(pool, 1)
    pool.mark_unauthorized(only, "401")
    assert pool.acquire() is None and pool.recheck_candidate() is None
    clock.advance(30.0)
    assert pool.recheck_candidate() is only


@pytest.mark.parametrize(("seconds", "expected"), [
    (float("inf"), 5.0), (float("nan"), 5.0), (None, 5.0), (-3.0, 0.0), (1e308, 3600.0),
])
def test_cool_down_takes_no_absurd_wait(seconds: float | None, expected: float) -> None:
    pool, _ = make_pool()
    pool.cool_down(key(pool, 1), seconds, "429")
    assert pool.snapshot()[0]["cooling_for"] == expected


def test_outcomes_report_whether_they_changed_the_key() -> None:
    pool, _ = make_pool()
    first = key(pool, 1)
    assert pool.mark_unauthorized(first, "401") is True
    assert pool.mark_unauthorized(first, "401") is False  # already out: logged once
    assert pool.mark_success(first) is True
    assert pool.mark_success(first) is False
    assert pool.cool_down(first, 10.0, "429") is True
    assert pool.cool_down(first, 20.0, "429") is False  # already resting


def test_a_rotation_to_the_same_secret_makes_the_key_healthy_again() -> None:
    pool, _ = make_pool([(1, "a", "sk-aaaaaaaa1111", "v1")])
    pool.mark_unauthorized(key_any(pool), "401")
    pool.replace([(1, "a", "sk-aaaaaaaa1111", "v1")])  # a reload of the same version
    assert pool.healthy_count == 0
    pool.replace([(1, "a", "sk-aaaaaaaa1111", "v2")])  # rotated, same secret
    assert pool.healthy_count == 1


def key_any(pool: KeyPool) -> PoolKey:
    found = pool.acquire()
    assert found is not None
    return found
