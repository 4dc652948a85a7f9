"""Delivery outcomes and the retry policy: transient failures back off and retry, permanent
ones stop at once; both end as a recorded outcome, never a silent loss."""

from __future__ import annotations

import random
from dataclasses import dataclass


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool, retry_after_s: float | None = None):
        super().__init__(reason)
        self.reason, self.permanent, self.retry_after_s = reason, permanent, retry_after_s


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After is a floor."""
        backoff = random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))
        return max(backoff, retry_after_s or 0.0)
