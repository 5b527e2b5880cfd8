"""When a delivery is retried, and after how long."""

import pytest

from orderledger.domain.delivery_policy import JITTER, Verdict, retry_delay, verdict

DELAYS = (1.0, 4.0, 16.0)


@pytest.mark.parametrize("status", [None, 408, 429, 500, 502, 503])
def test_no_answer_timeouts_throttling_and_server_errors_are_retried_until_the_last_try(status):
    assert verdict(status, 1, DELAYS) is Verdict.RETRY
    assert verdict(status, 3, DELAYS) is Verdict.RETRY
    assert verdict(status, 4, DELAYS) is Verdict.DEAD


@pytest.mark.parametrize("status", [301, 400, 401, 404, 410, 422])
def test_a_deliberate_refusal_or_a_redirect_is_dead_at_once(status):
    assert verdict(status, 1, DELAYS) is Verdict.DEAD


def test_any_2xx_is_delivered():
    assert verdict(200, 1, DELAYS) is Verdict.DELIVERED and verdict(204, 4, DELAYS) is Verdict.DELIVERED


def test_pauses_grow_and_jitter_stays_within_its_bounds():
    assert retry_delay(1, DELAYS, 0.5) == 1.0 and retry_delay(2, DELAYS, 0.5) == 4.0
    assert retry_delay(3, DELAYS, 0.0) == pytest.approx(16.0 * (1 - JITTER))
    assert retry_delay(3, DELAYS, 0.999999) == pytest.approx(16.0 * (1 + JITTER), rel=1e-4)
