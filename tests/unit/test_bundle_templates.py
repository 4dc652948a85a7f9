"""Per-category email templates in the bundle: used for their category only, sandboxed and
escaped, checked on load (file and line named), the resident's details only where allowed."""

from __future__ import annotations

import dataclasses
import shutil
from email.message import EmailMessage
from pathlib import Path

import pytest

from schemas import ReporterContact, ReportRouted
from services.notifier.delivery import Delivery
from services.notifier.message import render_email
from signpost.bundle import Bundle, BundleError, load_bundle
from signpost.bundle.templates import VARIABLES, MessageContext
from signpost.runtime.settings import DEMO_BUNDLE
from tests.unit.test_email_message import routed
from tests.unit.test_notify import ScriptedChannel, notifier

RESIDENT = ReporterContact(name="Rita Resident", email="rita@example.com", phone="01234 567890")
TEXT = "Speeding in {{ organisation }}: {{ description }}\n"
HTML = "<p>Speeding in {{ organisation }}: {{ description }}</p>\n"


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(DEMO_BUNDLE, tmp_path / "bundle"))


def with_templates(directory: Path, **files: str) -> Path:
    """Replace the bundle's templates with these (file name with its dots as __)."""
    templates = directory / "templates"
    shutil.rmtree(templates, ignore_errors=True)
    templates.mkdir()
    for name, text in files.items():
        (templates / name.replace("__", ".")).write_text(text)
    return directory


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(BundleError) as caught:
        load_bundle(directory)
    return caught.value.problems


def email(bundle: Bundle, event: ReportRouted) -> tuple[str, str, EmailMessage]:
    category = event.report.category
    delivery = Delivery(event, bundle.organisations[event.owner.id],
                        bundle.categories.get(category), map_url="https://maps.example/?a=1&b=2",
                        email_templates=bundle.templates.get(category))
    msg = render_email(delivery, sender="s@example.org").parsed()
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return text, html, msg


def test_a_categorys_template_is_used_for_that_category_only(demo_bundle: Bundle) -> None:
    assert set(demo_bundle.templates) == {"speeding"}
    speeding_text, speeding_html, _ = email(demo_bundle, routed(demo_bundle, "ashcombe-pc"))
    assert "Community Speedwatch" in speeding_text and "Community Speedwatch" in speeding_html
    assert "SU 31639 27946" in speeding_text  # the grid reference
    pothole_text, pothole_html, _ = email(
        demo_bundle, routed(demo_bundle, "ashcombe-pc", category="pothole", answers={}))
    assert "Speedwatch" not in pothole_text + pothole_html
    assert "A resident has reported pothole" in pothole_text  # the default


async def test_the_notifier_hands_the_channel_the_categorys_templates(
        demo_bundle: Bundle) -> None:
    channel = ScriptedChannel()
    await notifier(demo_bundle, channel).notify(routed(demo_bundle, "ashcombe-pc"))
    await notifier(demo_bundle, channel).notify(
        routed(demo_bundle, "ashcombe-pc", category="pothole", answers={}))
    speeding, pothole = channel.delivered
    assert speeding.email_templates is demo_bundle.templates["speeding"]
    assert pothole.email_templates is None


def test_residents_text_is_escaped_in_html_and_exact_in_text(bundle_dir: Path) -> None:
    bundle = load_bundle(with_templates(bundle_dir, speeding__txt__j2=TEXT,
                                        speeding__html__j2=HTML))
    evil = '<script>alert(1)</script> & <a href="http://phish.example">x</a>'
    text, html, _ = email(bundle, routed(bundle, "ashcombe-pc", description=evil))
    assert "<script>" not in html and '<a href="http://phish' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in html
    assert text == f"Speeding in Ashcombe Parish Council: {evil}\n"


def test_residents_text_cannot_forge_headers_or_parts(demo_bundle: Bundle) -> None:
    forged = ("x\r\nBcc: victim@example.com\r\nSubject: forged\r\n\r\n"
              "--===============0==\r\nContent-Type: text/html\r\n\r\n<script>")
    text, _, msg = email(demo_bundle, routed(demo_bundle, "ashcombe-pc", description=forged))
    assert msg["Bcc"] is None and msg.get_all("Subject") == [
        "[SP-TEST-0000-0001] Speeding traffic reported in your area"]
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert "Bcc: victim@example.com" in text  # shown as the resident wrote it, in the body


def test_reporter_details_only_where_the_organisation_allows(bundle_dir: Path) -> None:
    shows = "{% if reporter %}Contact: {{ reporter.name }} {{ reporter.email }}{% endif %}\n"
    bundle = load_bundle(with_templates(bundle_dir, speeding__txt__j2=shows,
                                        speeding__html__j2=shows))
    parish_text, parish_html, _ = email(bundle, routed(bundle, "ashcombe-pc", reporter=RESIDENT))
    assert "Rita" not in parish_text + parish_html and "rita@" not in parish_text + parish_html
    # Vale Homes' entry has share_reporter_details: true.
    housing = routed(bundle, "vale-homes", reporter=RESIDENT)
    housing_text, housing_html, _ = email(bundle, housing)
    assert "Contact: Rita Resident rita@example.com" in housing_text
    assert "Contact: Rita Resident rita@example.com" in housing_html


def test_a_template_using_the_reporter_unguarded_is_refused(bundle_dir: Path) -> None:
    # It would fail for every organisation that may not see the resident's details.
    text = "Hello\n{{ reporter.name }}\n"
    problems = problems_of(with_templates(bundle_dir, speeding__txt__j2=text,
                                          speeding__html__j2=HTML))
    assert len(problems) == 1
    assert problems[0].startswith("templates/speeding.txt.j2:2: fails with a sample report")


def test_a_syntax_error_names_the_file_and_line(bundle_dir: Path) -> None:
    broken = "Dear {{ clerk_name }},\n\n{% if answers %}\n{{ reference }}\n"
    problems = problems_of(with_templates(bundle_dir, speeding__txt__j2=broken,
                                          speeding__html__j2=HTML))
    assert len(problems) == 1
    assert problems[0].startswith("templates/speeding.txt.j2:4: not a valid template:"), problems


def test_an_unknown_variable_names_the_file_line_and_variable(bundle_dir: Path) -> None:
    html = "<p>{{ reference }}</p>\n<p>{{ resident_name }}</p>\n"
    problems = problems_of(with_templates(bundle_dir, speeding__txt__j2=TEXT,
                                          speeding__html__j2=html))
    assert len(problems) == 1
    assert problems[0].startswith(
        "templates/speeding.html.j2:2: unknown variable 'resident_name'; a template may use "
        "reference, category,"), problems


def test_an_unknown_attribute_is_found_on_load(bundle_dir: Path) -> None:
    text = "{{ reference }}\n{{ location.gridref }}\n"
    problems = problems_of(with_templates(bundle_dir, speeding__txt__j2=text,
                                          speeding__html__j2=HTML))
    assert len(problems) == 1
    assert problems[0].startswith("templates/speeding.txt.j2:2: fails with a sample report: "
                                  "UndefinedError"), problems


def test_the_sandbox_refuses_reaching_into_python(bundle_dir: Path) -> None:
    text = "{{ reference.__class__.__mro__ }}\n"
    problems = problems_of(with_templates(bundle_dir, speeding__txt__j2=text,
                                          speeding__html__j2=HTML))
    assert len(problems) == 1 and problems[0].startswith("templates/speeding.txt.j2:1: fails")


def test_names_must_be_a_category_and_a_part_and_come_in_pairs(bundle_dir: Path) -> None:
    problems = problems_of(with_templates(
        bundle_dir, speedin__txt__j2=TEXT, speeding__txt=TEXT, pothole__txt__j2=TEXT))
    assert problems == [
        "templates/speedin.txt.j2: no category 'speedin' in categories.yaml",
        "templates/speeding.txt: not a template; name it <category id>.txt.j2 or "
        "<category id>.html.j2",
        "templates/pothole.txt.j2: needs its other part, templates/pothole.html.j2, so both "
        "parts of the email agree",
    ]


def test_a_template_that_fails_on_a_real_report_falls_back_to_the_default(
        bundle_dir: Path) -> None:
    # Passes the sample reports on load, fails on this one: the clerk still hears of it.
    text = '{% if description == "boom" %}{{ 1 / 0 }}{% endif %}custom\n'
    bundle = load_bundle(with_templates(bundle_dir, speeding__txt__j2=text,
                                        speeding__html__j2=HTML))
    assert email(bundle, routed(bundle, "ashcombe-pc", description="fine"))[0] == "custom\n"
    fallback_text, _, _ = email(bundle, routed(bundle, "ashcombe-pc", description="boom"))
    assert "A resident has reported speeding traffic" in fallback_text


def test_the_documented_variables_are_the_ones_offered() -> None:
    assert [f.name for f in dataclasses.fields(MessageContext)] == list(VARIABLES)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "channels.md").read_text()
    for variable in VARIABLES:
        assert f"`{variable}`" in docs, variable
