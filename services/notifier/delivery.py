"""Delivery outcomes and the retry policy: transient failures back off and retry, permanent
ones stop at once; both end as a recorded outcome, never a silent loss."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property

from schemas import Report, ReporterContact, ReportRouted
from signpost.bundle import Category, Organisation
from signpost.bundle.templates import EmailTemplates
from signpost.gridref import grid_reference


class DeliveryFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool, retry_after_s: float | None = None):
        super().__init__(reason)
        self.reason, self.permanent, self.retry_after_s = reason, permanent, retry_after_s


@dataclass(frozen=True)
class RetryPolicy:
    """Quick in-process retries for a blip; longer outages go to the retry topic."""

    attempts: int = 3
    base_s: float = 0.5
    cap_s: float = 4.0
    max_wait_s: float = 10.0  # a longer Retry-After defers to the retry topic now

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Exponential backoff with full jitter; a server's Retry-After is a floor."""
        backoff = random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))
        return max(backoff, retry_after_s or 0.0)


@dataclass(frozen=True)
class LaterRetries:
    """After the quick in-process retries fail: try again from the retry topic, backing off,
    so a relay or endpoint that is down for minutes or hours loses nothing and holds no
    other organisation's notifications up meanwhile."""

    base_s: float = 15.0
    cap_s: float = 600.0
    horizon_s: float = 86_400.0

    def next_try(self, attempt: int, first_failed: float, now: float,
                 retry_after_s: float | None = None) -> float | None:
        """When to try again (epoch seconds), or None once past the horizon. A server's
        Retry-After is a floor, as in the quick retries: asking sooner only earns another 429."""
        backoff = min(self.cap_s, self.base_s * 2**attempt) * random.uniform(0.5, 1.0)
        delay = max(backoff, retry_after_s or 0.0)
        return now + delay if now + delay - first_failed <= self.horizon_s else None


@dataclass(frozen=True)
class Delivery:
    """One notification to make: the report, its owner (with the clerk to tell), and links.
    Every channel adapter builds its own message from this."""

    routed: ReportRouted
    organisation: Organisation
    category: Category | None
    map_url: str
    ack_url: str | None = None
    email_templates: EmailTemplates | None = None  # the category's own email, from the bundle

    @property
    def report(self) -> Report:
        return self.routed.report

    @cached_property
    def grid_reference(self) -> str | None:
        """The OS grid reference, e.g. "ST 12345 67890"; None outside the National Grid."""
        return grid_reference(self.report.location.lat, self.report.location.lon)

    @property
    def reported_at(self) -> str:
        """When it was reported, as every channel words it: "22 November 2026, 09:30 UTC"."""
        return self.report.submitted_at.strftime("%d %B %Y, %H:%M UTC")

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
