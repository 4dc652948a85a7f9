"""Delivery outcomes and the retry policy: transient failures back off and retry, permanent
ones stop at once; both end as a recorded outcome, never a silent loss."""

from __future__ import annotations

import random
from dataclasses import dataclass

from schemas import Report, ReporterContact, ReportRouted
from signpost.bundle import Category, Organisation


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool, retry_after_s: float | None = None):
        super().__init__(reason)
        self.reason, self.permanent, self.retry_after_s = reason, permanent, retry_after_s


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0
    max_wait_s: float = 60.0  # a longer Retry-After gives up now rather than stall the stream

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After is a floor."""
        backoff = random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))
        return max(backoff, retry_after_s or 0.0)


@dataclass(frozen=True)
class Delivery:
    """One notification to make: the report, its owner (with the clerk to tell), and links.
    Every channel adapter builds its own message from this."""

    routed: ReportRouted
    organisation: Organisation
    category: Category | None
    map_url: str
    ack_url: str | None = None

    @property
    def report(self) -> Report:
        return self.routed.report

    @property
    def category_name(self) -> str:
        return self.category.name if self.category else self.report.category

    @property
    def reporter(self) -> ReporterContact | None:
        """The resident's contact details, only where the organisation may have them."""
        return self.report.reporter if self.organisation.share_reporter_details else None

    def answers(self) -> list[tuple[str, str]]:
        """Each answer with its question's wording where the bundle has it."""
        pairs = []
        for qid, answer in self.report.answers.items():
            question = self.category.question(qid) if self.category else None
            pairs.append((question.text if question else qid, answer))
        return pairs
