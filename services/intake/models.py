"""What a form sends and what intake answers, and the checks a category's questions impose."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas import ReporterContact, Tier
from services.intake.location import PointIn
from services.intake.problems import FieldProblem
from signpost.bundle.model import Category

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U: easy to read out on the phone
MAX_ANSWERS = 3


def new_reference() -> str:
    """SP-XXXX-XXXX-XXXX: 60 random bits, from the operating system's CSPRNG in one draw
    (a draw per character cost 7 % of intake's time)."""
    bits = secrets.randbits(60)
    chars = [CROCKFORD[(bits >> (5 * i)) & 31] for i in range(12)]
    return f"SP-{''.join(chars[:4])}-{''.join(chars[4:8])}-{''.join(chars[8:])}"


class ReportRequest(BaseModel):
    """POST /v1/reports. The reporter is the event contract's own model."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str = Field(min_length=1, max_length=100, examples=["pothole"])
    description: str = Field(min_length=1, max_length=5000)
    location: PointIn = Field(description="lat and lon (WGS84), or easting and northing "
                                          "(British National Grid, EPSG:27700)")
    answers: dict[str, str] = Field(default_factory=dict, max_length=MAX_ANSWERS,
                                    description="Question id to answer, for the category")
    uprn: str | None = Field(None, pattern=r"^[0-9]{1,12}$", description="Property, if any")
    reporter: ReporterContact | None = None


class Accepted(BaseModel):
    reference: str = Field(examples=["SP-7KQ2-M4XD-91TB"])
    status_url: str


class QuestionOut(BaseModel):
    id: str
    text: str
    answers: list[str]


class CategoryOut(BaseModel):
    id: str
    name: str
    questions: list[QuestionOut]


class Categories(BaseModel):
    categories: list[CategoryOut]


class OwnerOut(BaseModel):
    id: str
    name: str
    tier: Tier
    notification: str = Field(description="pending, sent or failed")
    acknowledged_at: datetime | None = Field(None, description="When the owner confirmed it")


class ReportState(BaseModel):
    """GET /v1/reports/{reference}: where the report has got to."""

    reference: str
    status: str = Field(description="received, routed, notified, acknowledged, escalated, "
                                    "unroutable or dead_lettered")
    category: str | None = None
    submitted_at: datetime | None = None
    updated_at: datetime
    owners: list[OwnerOut] = Field(default_factory=list)
    escalated_to: str | None = Field(
        None, description="The owner (one of owners) the report was last escalated to, after "
        "going unacknowledged past its category's SLA and a reminder")
    unroutable_reason: str | None = None
    dead_letter_reason: str | None = None


class Catalogue:
    """The categories intake accepts, with their questions and allowed answers."""

    def __init__(self, categories: Sequence[Category]) -> None:
        self.categories = {c.id: c for c in categories}
        self.sensitive = frozenset(c.id for c in categories if c.sensitive)

    def listing(self) -> Categories:
        return Categories(categories=[CategoryOut(
            id=c.id, name=c.name,
            questions=[QuestionOut(id=q.id, text=q.text, answers=list(q.answers))
                       for q in c.questions]) for c in self.categories.values()])

    def check(self, category: str, answers: dict[str, str], field: str = "category",
              answers_field: str = "answers", name_unknown: bool = False
              ) -> tuple[str, list[FieldProblem]] | None:
        """None when the category and answers are known; else a reason code and the problems.
        An unknown question is named only with `name_unknown` (an operator's own command
        line); an API answer never repeats a key its caller chose."""
        found = self.categories.get(category)
        if found is None:
            known = ", ".join(sorted(self.categories)) or "none configured"
            return "unknown_category", [FieldProblem.at(
                [field], f"Not a category this service handles. Choose one of: {known}.")]
        problems = []
        for question, answer in answers.items():
            asked = found.question(question)
            if asked is None:
                listed = ", ".join(q.id for q in found.questions) or "none"
                problem = FieldProblem.at(
                    [answers_field, question], "Not a question for this category. Its "
                    f"questions are: {listed}.") if name_unknown else FieldProblem.at(
                    [answers_field], "Answers a question this category does not ask. Its "
                    f"questions are: {listed}.")  # named by its parent: the caller chose it
            elif answer not in asked.answers:
                problem = FieldProblem.at([answers_field, question], "Not an allowed answer. "
                                          f"Choose one of: {', '.join(asked.answers)}.")
            else:
                continue
            if problem not in problems:
                problems.append(problem)
        return ("invalid_answer", problems) if problems else None
