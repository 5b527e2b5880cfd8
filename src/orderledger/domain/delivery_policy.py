"""When a webhook delivery is done, tried again, or given up (dead-lettered). Pure: randomness is passed in."""

from __future__ import annotations

from enum import Enum

# Pauses after the 1st, 2nd ... failed try; one try more than pauses, then the delivery is dead.
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (1.0, 4.0, 16.0, 60.0, 300.0)
# Each pause is stretched or shrunk by up to this fraction, so receivers that fail together are not
# hit again all at the same instant when they come back.
JITTER = 0.2


class Verdict(str, Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD = "dead"


def is_retryable(status_code: int | None) -> bool:
    """No answer (timeout, refused connection, refused target), 408, 429 and 5xx are worth another try.

    Any other answer is the receiver's deliberate refusal (or a redirect, which is never followed):
    trying again would get the same, so the delivery is dead until someone redelivers it.
    """
    return status_code is None or status_code in (408, 429) or status_code >= 500


def verdict(status_code: int | None, tries_this_round: int, delays: tuple[float, ...]) -> Verdict:
    """What to do after a try; `tries_this_round` counts it (a redelivery starts a new round)."""
    if status_code is not None and 200 <= status_code < 300:
        return Verdict.DELIVERED
    if is_retryable(status_code) and tries_this_round <= len(delays):
        return Verdict.RETRY
    return Verdict.DEAD


def retry_delay(tries_this_round: int, delays: tuple[float, ...], random_fraction: float) -> float:
    """Seconds before the next try, after `tries_this_round` failed tries; `random_fraction` in [0, 1)."""
    base = delays[min(tries_this_round, len(delays)) - 1]
    return base * (1 + JITTER * (2 * random_fraction - 1))


def max_tries(delays: tuple[float, ...]) -> int:
    return len(delays) + 1
