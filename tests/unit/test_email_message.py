"""What a clerk reads: the facts, the resident's text escaped, personal data only if allowed."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas import Location, Owner, Report, ReporterContact, ReportRouted, RoutingTrace, Tier
from services.notifier.delivery import Delivery
from services.notifier.message import REFERENCE_HEADER, render_email
from signpost.bundle import Bundle

MAP = "https://maps.example/?lat={lat}&lon={lon}"


def routed(bundle: Bundle, owner_id: str, **report: object) -> ReportRouted:
    org = bundle.organisations[owner_id]
    fields: dict[str, object] = {
        "reference": "SP-TEST-0000-0001", "category": "speeding",
        "description": "Cars race past the school", "location": Location(lat=51.05, lon=-1.55),
        "answers": {"speed_limit": "30"}, "submitted_at": datetime(2026, 11, 22, 9, 30, tzinfo=UTC),
    }
    fields.update(report)
    return ReportRouted(
        report=Report.model_validate(fields),
        owner=Owner(id=org.id, name=org.name, tier=Tier(org.tier)), rule_id="rule-x",
        trace=RoutingTrace(bundle_version="v", rules_evaluated=["rule-x"], matched_rule="rule-x",
                           boundaries=[]),
    )


def render(bundle: Bundle, event: ReportRouted) -> tuple[str, str, object]:
    org = bundle.organisations[event.owner.id]
    location = event.report.location
    delivery = Delivery(event, org, bundle.categories.get(event.report.category),
                        map_url=MAP.format(lat=f"{location.lat:.6f}", lon=f"{location.lon:.6f}"))
    msg = render_email(delivery, sender="Signpost <s@example.org>").parsed()
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return text, html, msg


def test_message_goes_to_the_clerk_with_reference_location_and_answers(demo_bundle: Bundle) -> None:
    text, _, msg = render(demo_bundle, routed(demo_bundle, "ashcombe-pc"))
    assert msg["To"] == "Ann Archer <clerk@ashcombe-pc.example.org>"  # type: ignore[index]
    assert msg[REFERENCE_HEADER] == "SP-TEST-0000-0001"  # type: ignore[index]
    assert "SP-TEST-0000-0001" in msg["Subject"]  # type: ignore[index]
    assert "Speeding traffic" in text
    assert "https://maps.example/?lat=51.050000&lon=-1.550000" in text
    assert "What is the speed limit on the road? 30" in text
    assert "Cars race past the school" in text


def test_residents_text_cannot_inject_html(demo_bundle: Bundle) -> None:
    evil = '<script>alert(1)</script><a href="http://phish.example">click</a>'
    text, html, _ = render(demo_bundle, routed(demo_bundle, "ashcombe-pc", description=evil))
    assert "<script>" not in html and "<a href=\"http://phish" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert evil in text  # plain text shows exactly what was written


def test_reporter_details_only_where_the_organisation_allows(demo_bundle: Bundle) -> None:
    contact = ReporterContact(name="Rita Resident", email="rita@example.com", phone="01234 567890")
    parish_text, parish_html, _ = render(
        demo_bundle, routed(demo_bundle, "ashcombe-pc", reporter=contact))
    assert "Rita Resident" not in parish_text + parish_html
    assert "rita@example.com" not in parish_text + parish_html
    housing_text, _, _ = render(
        demo_bundle, routed(demo_bundle, "vale-homes", category="housing_repair", answers={},
                            reporter=contact))
    assert "Rita Resident" in housing_text and "rita@example.com" in housing_text


def test_the_acknowledgement_link_is_in_both_parts(demo_bundle: Bundle) -> None:
    event = routed(demo_bundle, "ashcombe-pc")
    delivery = Delivery(event, demo_bundle.organisations["ashcombe-pc"], None, map_url="m",
                        ack_url="https://s.example/ack/SP-TEST-0000-0001/ashcombe-pc?x=1&y=2")
    msg = render_email(delivery, sender="s@example.org").parsed()
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "https://s.example/ack/SP-TEST-0000-0001/ashcombe-pc?x=1&y=2" in text
    assert 'href="https://s.example/ack/SP-TEST-0000-0001/ashcombe-pc?x=1&amp;y=2"' in html
