"""Later retries: back off from base to cap, stop at the horizon; retry headers read safely."""

from __future__ import annotations

from services.notifier.app import ATTEMPT, FIRST_FAILED, NOT_BEFORE, retry_state
from services.notifier.delivery import LaterRetries

LATER = LaterRetries(base_s=10, cap_s=100, horizon_s=1000)


def test_backs_off_between_half_and_all_of_the_capped_delay() -> None:
    for attempt, full in [(0, 10), (1, 20), (3, 80), (4, 100), (9, 100)]:
        at = LATER.next_try(attempt, first_failed=0, now=0)
        assert at is not None and full / 2 <= at <= full


def test_gives_up_past_the_horizon() -> None:
    assert LATER.next_try(5, first_failed=0, now=960) is None  # due at 1,010 or later
    assert LATER.next_try(5, first_failed=0, now=800) is not None  # due by 900
    assert LATER.next_try(0, first_failed=400, now=1300) is not None  # horizon from first


def test_a_servers_retry_after_is_a_floor_within_the_horizon() -> None:
    assert LATER.next_try(0, first_failed=0, now=0, retry_after_s=120) == 120
    assert LATER.next_try(0, first_failed=0, now=0, retry_after_s=5_000) is None  # past it


def test_retry_state_reads_its_headers_and_ignores_others() -> None:
    headers = [(ATTEMPT, b"2"), (FIRST_FAILED, b"100.5"), (NOT_BEFORE, b"bad"),
               ("ce_id", b"x")]
    assert retry_state(headers) == {ATTEMPT: 2.0, FIRST_FAILED: 100.5}
    assert retry_state(None) == {}
