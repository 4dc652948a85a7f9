"""Per-category email templates in the bundle: `templates/<category id>.txt.j2` (the plain-text
part) and `templates/<category id>.html.j2` (the HTML part), always as a pair, so a clerk whose
mail program shows the HTML part reads what one reading plain text does.

They are council-authored configuration, so they run in Jinja's immutable sandbox, with HTML
autoescaped in the HTML part and undefined names an error. Each is compiled, checked against
the variables offered, and rendered with a sample report when the bundle loads: a template that
cannot render makes the bundle invalid, rather than a clerk's email fail later.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

from jinja2 import (
    BaseLoader,
    Environment,
    StrictUndefined,
    Template,
    TemplateNotFound,
    TemplateSyntaxError,
    meta,
)
from jinja2 import nodes as jinja_nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from signpost.bundle.model import Category

TEMPLATE_DIR = "templates"
PARTS = ("txt", "html")  # the plain-text and the HTML part of the email
FILE_NAME = re.compile(r"^(?P<category>.+)\.(?P<part>txt|html)\.j2$")

# What a template may use; docs/channels.md lists the same.
VARIABLES = {
    "reference": "the report's reference, e.g. SP-2026-1122-0001",
    "category": "the category's name, e.g. Speeding traffic",
    "reported_at": "when it was reported, e.g. 22 November 2026, 09:30 UTC",
    "answers": "the resident's answers: each has .question (its wording) and .answer",
    "location": ".lat and .lon (WGS84), .grid_reference (e.g. ST 12345 67890; None outside "
                "the National Grid), .map_url",
    "description": "what the resident wrote ('' if nothing)",
    "ack_url": "the acknowledgement link, or None",
    "organisation": "the owning organisation's name",
    "clerk_name": "the clerk's name",
    "rule": "the id of the rule that chose the organisation",
    "reporter": "None unless the organisation's entry has share_reporter_details: true; "
                "then .name, .email, .phone (each may be None)",
}


class Answer(NamedTuple):
    question: str
    answer: str


class Place(NamedTuple):
    lat: float
    lon: float
    grid_reference: str | None
    map_url: str


class Contact(NamedTuple):
    name: str | None
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class MessageContext:
    """Everything an email template is given; the notifier fills it from a delivery."""

    reference: str
    category: str
    reported_at: str
    answers: list[Answer]
    location: Place
    description: str
    ack_url: str | None
    organisation: str
    clerk_name: str
    rule: str
    reporter: Contact | None

    def variables(self) -> dict[str, Any]:
        # Shallow on purpose: dataclasses.asdict would turn the NamedTuples into plain tuples.
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class EmailTemplates:
    """A category's own email: both parts, compiled."""

    text: Template
    html: Template

    def render(self, context: MessageContext) -> tuple[str, str]:
        variables = context.variables()
        return self.text.render(variables), self.html.render(variables)


class _Sources(BaseLoader):
    """Serves the sources read at load time, named by file, so an `{% include %}` sees the same
    bundle and a render error's traceback names the template it happened in."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = sources

    def get_source(self, environment: Environment, template: str
                   ) -> tuple[str, str, Callable[[], bool]]:
        if template not in self.sources:
            raise TemplateNotFound(template)
        return self.sources[template], template, lambda: True


def sandbox(sources: Mapping[str, str]) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=_Sources(sources),
        autoescape=lambda name: bool(name and name.endswith(".html.j2")),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def load_templates(root: Path, categories: Mapping[str, Category],
                   problems: list[str]) -> dict[str, EmailTemplates]:
    """The bundle's `templates/`, by category id; each problem found is added to `problems`."""
    directory = root / TEMPLATE_DIR
    if not directory.is_dir():
        return {}
    sources: dict[str, str] = {}
    parts: dict[str, dict[str, str]] = {}  # category id -> part -> file name
    for path in sorted(directory.iterdir()):
        if path.name.startswith("."):  # editor swap files; Kubernetes' ..data links
            continue
        where = f"{TEMPLATE_DIR}/{path.name}"
        match = FILE_NAME.match(path.name)
        if not match or not path.is_file():
            problems.append(f"{where}: not a template; name it <category id>.txt.j2 or "
                            "<category id>.html.j2")
            continue
        category_id = match["category"]
        if category_id not in categories:
            problems.append(f"{where}: no category {category_id!r} in categories.yaml")
            continue
        try:
            sources[path.name] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{where}: unreadable ({type(exc).__name__})")
            continue
        parts.setdefault(category_id, {})[match["part"]] = path.name
    env = sandbox(sources)
    templates: dict[str, EmailTemplates] = {}
    for category_id, files in parts.items():
        missing = [f"{category_id}.{part}.j2" for part in PARTS if part not in files]
        if missing:
            problems.append(f"{TEMPLATE_DIR}/{next(iter(files.values()))}: needs its other part, "
                            f"{TEMPLATE_DIR}/{missing[0]}, so both parts of the email agree")
        compiled = {part: _compile(env, name, sources[name], categories[category_id], problems)
                    for part, name in files.items()}
        text, html = compiled.get("txt"), compiled.get("html")
        if text is not None and html is not None:
            templates[category_id] = EmailTemplates(text=text, html=html)
    return templates


def _compile(env: Environment, name: str, source: str, category: Category,
             problems: list[str]) -> Template | None:
    where = f"{TEMPLATE_DIR}/{name}"
    try:
        tree = env.parse(source, name, name)
        template = env.get_template(name)
    except TemplateSyntaxError as exc:
        problems.append(f"{where}:{exc.lineno}: not a valid template: {exc.message}")
        return None
    unknown = meta.find_undeclared_variables(tree) - set(VARIABLES) - set(env.globals)
    for variable in sorted(unknown):
        problems.append(f"{where}:{_first_use(tree, variable)}: unknown variable {variable!r}; "
                        f"a template may use {', '.join(VARIABLES)}")
    if unknown:
        return None
    for context in sample_contexts(category):
        try:
            template.render(context.variables())
        except Exception as exc:  # whatever the template does wrong, name it and its line
            problems.append(f"{where}:{_error_line(exc, name)}: fails with a sample report: "
                            f"{type(exc).__name__}: {exc}")
            return None
    return template


def _first_use(tree: jinja_nodes.Template, variable: str) -> int:
    lines = [n.lineno for n in tree.find_all(jinja_nodes.Name) if n.name == variable]
    return min(lines, default=1)


def _error_line(exc: BaseException, name: str) -> int:
    """Jinja rewrites a render error's traceback so the template's own frames carry the
    template's name and line."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == name]
    return (frames[-1].lineno or 1) if frames else 1


def sample_contexts(category: Category) -> list[MessageContext]:
    """A report with everything filled in, and one with every optional part absent, so a
    template is tried on both sides of each `{% if %}` that matters."""
    full = MessageContext(
        reference="SP-2026-0101-0001",
        category=category.name,
        reported_at="1 January 2026, 09:30 UTC",
        answers=[Answer(q.text, q.answers[0]) for q in category.questions],
        location=Place(51.05, -1.55, "SU 31639 27946", "https://maps.example/?lat=51.05"),
        description="A sample description.",
        ack_url="https://signpost.example/ack/SP-2026-0101-0001/owner?expires=1&sig=x",
        organisation="Sample Parish Council",
        clerk_name="Sample Clerk",
        rule="sample-rule",
        reporter=Contact("Sample Resident", "resident@example.org", "01632 960000"),
    )
    sparse = replace(full, answers=[], description="", ack_url=None, reporter=None,
                     location=full.location._replace(grid_reference=None))
    return [full, sparse]
