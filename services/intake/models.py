"""What a form sends and what intake answers, and the checks a category's questions impose."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping

from pydantic import BaseModel, ConfigDict, Field

from schemas import Location, ReporterContact
from services.intake.problems import FieldProblem

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # no I, L, O, U: easy to read out on the phone
MAX_ANSWERS = 3


def new_reference() -> str:
    """SP-XXXX-XXXX-XXXX: 60 random bits, from the operating system's CSPRNG."""
    groups = ("".join(secrets.choice(CROCKFORD) for _ in range(4)) for _ in range(3))
    return "SP-" + "-".join(groups)


class ReportRequest(BaseModel):
    """POST /v1/reports. Location and reporter are the event contract's own models."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str = Field(min_length=1, max_length=100, examples=["pothole"])
    description: str = Field(min_length=1, max_length=5000)
    location: Location
    answers: dict[str, str] = Field(default_factory=dict, max_length=MAX_ANSWERS,
                                    description="Question id to answer, for the category")
    uprn: str | None = Field(None, pattern=r"^[0-9]{1,12}$", description="Property, if any")
    reporter: ReporterContact | None = None


class Accepted(BaseModel):
    reference: str = Field(examples=["SP-7KQ2-M4XD-91TB"])
    status_url: str


class Catalogue:
    """The categories intake accepts: category id -> question id -> allowed answers."""

    def __init__(self, categories: Mapping[str, Mapping[str, Collection[str]]]) -> None:
        self._questions = {c: {q: tuple(a) for q, a in qs.items()} for c, qs in categories.items()}

    def check(self, request: ReportRequest) -> tuple[str, list[FieldProblem]] | None:
        """None when the category and answers are known; else a reason code and the problems."""
        questions = self._questions.get(request.category)
        if questions is None:
            known = ", ".join(sorted(self._questions)) or "none configured"
            return "unknown_category", [FieldProblem.at(
                ["category"], f"Not a category this service handles. Choose one of: {known}.")]
        problems = []
        for question, answer in request.answers.items():
            allowed = questions.get(question)
            if allowed is None:
                asked = ", ".join(questions) or "none"
                message = f"Not a question for this category. Its questions are: {asked}."
            elif answer not in allowed:
                message = f"Not an allowed answer. Choose one of: {', '.join(allowed)}."
            else:
                continue
            problems.append(FieldProblem.at(["answers", question], message))
        return ("invalid_answer", problems) if problems else None
