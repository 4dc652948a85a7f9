"""SLA clocks: who the next tier is, when a clock is due, and what starts and stops it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from schemas import BoundaryHit, Owner, ReportRouted, Tier
from services.notifier import escalation
from services.notifier.channels import Channels
from services.notifier.channels.govuk_notify import personalisation
from services.notifier.channels.webhook import payload as webhook_payload
from services.notifier.delivery import Delivery, RetryPolicy
from services.notifier.escalation import (
    Escalate,
    Forget,
    NoNextTier,
    Remind,
    SlaClock,
    next_tier_owner,
)
from services.notifier.notify import Notifier
from signpost.acklinks import AckLinks
from signpost.bundle import Bundle
from tests.unit.test_email_message import render, routed

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ASHCOMBE = [BoundaryHit(layer="county", feature_id="E10999001", name="Vale"),
            BoundaryHit(layer="district", feature_id="E07999001", name="Westbury"),
            BoundaryHit(layer="parish", feature_id="E04999001", name="Ashcombe")]
KEEP_S = 3600.0


def located(bundle: Bundle, owner_id: str, hits: list[BoundaryHit] = ASHCOMBE) -> ReportRouted:
    event = routed(bundle, owner_id)
    return event.model_copy(update={"trace": event.trace.model_copy(update={"boundaries": hits})})


def clock(bundle: Bundle, owner_id: str = "ashcombe-pc", **changes: object) -> SlaClock:
    started = escalation.start(None, located(bundle, owner_id), partition=2, sla_hours=48,
                               now=T0)
    assert started is not None
    return started.model_copy(update=changes)


def owner(bundle: Bundle, owner_id: str) -> Owner:
    org = bundle.organisations[owner_id]
    return Owner(id=org.id, name=org.name, tier=org.tier)


# --- the next tier ----------------------------------------------------------------------

@pytest.mark.parametrize(("owner_id", "expected"), [
    ("ashcombe-pc", "westbury-dc"),  # parish -> the district covering the point
    ("westbury-dc", "vale-county"),  # district -> county
    ("vale-county", None),  # the top tier
])
def test_next_tier_comes_from_the_boundaries_the_report_lies_in(
        demo_bundle: Bundle, owner_id: str, expected: str | None) -> None:
    found = next_tier_owner(located(demo_bundle, owner_id), demo_bundle)
    assert (found.id if found else None) == expected
    if found:
        assert found == owner(demo_bundle, expected or "")


def test_a_housing_provider_is_not_escalated(demo_bundle: Bundle) -> None:
    provider = next(o.id for o in demo_bundle.organisations.values()
                    if o.tier is Tier.HOUSING_PROVIDER)
    assert next_tier_owner(located(demo_bundle, provider), demo_bundle) is None


def test_a_parish_without_a_district_goes_to_the_county(demo_bundle: Bundle) -> None:
    no_district = [hit for hit in ASHCOMBE if hit.layer != "district"]
    found = next_tier_owner(located(demo_bundle, "ashcombe-pc", no_district), demo_bundle)
    assert found is not None and found.id == "vale-county"


def test_a_parish_in_a_unitary_area_goes_to_the_unitary(demo_bundle: Bundle) -> None:
    organisations = dict(demo_bundle.organisations)
    organisations["westbury-dc"] = organisations["westbury-dc"].model_copy(
        update={"tier": Tier.UNITARY})
    unitary = dataclasses.replace(demo_bundle, organisations=organisations)
    found = next_tier_owner(located(unitary, "ashcombe-pc"), unitary)
    assert found is not None and (found.id, found.tier) == ("westbury-dc", Tier.UNITARY)
    assert next_tier_owner(located(unitary, "westbury-dc"), unitary) is None  # unitary: top


def test_no_boundaries_no_next_tier(demo_bundle: Bundle) -> None:
    assert next_tier_owner(located(demo_bundle, "ashcombe-pc", []), demo_bundle) is None


# --- due and breached -------------------------------------------------------------------

def decide(bundle: Bundle, c: SlaClock, at: datetime) -> escalation.Action | None:
    return escalation.decide(c, at, bundle, keep_finished_s=KEEP_S)


def test_nothing_is_due_within_the_sla(demo_bundle: Bundle) -> None:
    assert decide(demo_bundle, clock(demo_bundle), T0 + timedelta(hours=47, minutes=59)) is None


def test_first_breach_reminds_the_same_owner(demo_bundle: Bundle) -> None:
    assert decide(demo_bundle, clock(demo_bundle), T0 + timedelta(hours=48)) == Remind()


def test_second_breach_escalates_one_sla_after_the_reminder(demo_bundle: Bundle) -> None:
    reminded = escalation.reminded(clock(demo_bundle), T0 + timedelta(hours=50))
    assert decide(demo_bundle, reminded, T0 + timedelta(hours=97)) is None
    assert decide(demo_bundle, reminded, T0 + timedelta(hours=98)) == Escalate(
        owner(demo_bundle, "westbury-dc"))


def test_second_breach_at_the_top_tier_ends_the_clock(demo_bundle: Bundle) -> None:
    reminded = escalation.reminded(clock(demo_bundle, "vale-county"), T0 + timedelta(hours=48))
    assert decide(demo_bundle, reminded, T0 + timedelta(hours=96)) == NoNextTier()


def test_fractional_sla_hours_give_a_short_clock(demo_bundle: Bundle) -> None:
    short = clock(demo_bundle, sla_hours=0.001)  # 3.6 s
    assert decide(demo_bundle, short, T0 + timedelta(seconds=3)) is None
    assert decide(demo_bundle, short, T0 + timedelta(seconds=4)) == Remind()


def test_an_ended_clock_is_forgotten_after_the_keep_period(demo_bundle: Bundle) -> None:
    done = escalation.ended(clock(demo_bundle), "escalated", T0)
    assert decide(demo_bundle, done, T0 + timedelta(seconds=KEEP_S - 1)) is None
    assert decide(demo_bundle, done, T0 + timedelta(seconds=KEEP_S)) == Forget()


@pytest.mark.parametrize("state", ["waiting", "reminded", "ended"])
def test_the_timer_looks_again_exactly_when_something_is_due(demo_bundle: Bundle,
                                                              state: str) -> None:
    """The notifier's timer keeps only this time per clock, not the clock: before it the
    clock needs nothing, at it, something."""
    c = {"waiting": clock(demo_bundle),
         "reminded": escalation.reminded(clock(demo_bundle), T0 + timedelta(hours=50)),
         "ended": escalation.ended(clock(demo_bundle), "escalated", T0)}[state]
    at = escalation.next_check_at(c, T0, keep_finished_s=KEEP_S)
    assert at is not None
    assert decide(demo_bundle, c, at - timedelta(seconds=1)) is None
    assert decide(demo_bundle, c, at) is not None


def test_sla_comes_from_the_category(demo_bundle: Bundle) -> None:
    assert escalation.sla_hours(demo_bundle, "pothole") == 48
    assert escalation.sla_hours(demo_bundle, "no-such-category") == escalation.DEFAULT_SLA_HOURS


# --- start and stop ---------------------------------------------------------------------

def test_a_delivery_starts_the_clock(demo_bundle: Bundle) -> None:
    started = clock(demo_bundle)
    assert (started.owner.id, started.partition, started.notified_at) == ("ashcombe-pc", 2, T0)
    assert started.due_at() == T0 + timedelta(hours=48)


def test_redelivery_and_reminders_do_not_restart_the_clock(demo_bundle: Bundle) -> None:
    running = escalation.reminded(clock(demo_bundle), T0 + timedelta(hours=48))
    later = T0 + timedelta(hours=60)
    again = located(demo_bundle, "ashcombe-pc")
    assert escalation.start(running, again, partition=2, sla_hours=48, now=later) is None
    assert escalation.start(running, escalation.reminder(running, later), partition=2,
                            sla_hours=48, now=later) is None
    acknowledged = escalation.acknowledge(running, "ashcombe-pc", later)
    assert acknowledged is not None
    assert escalation.start(acknowledged, again, partition=2, sla_hours=48, now=later) is None


def test_escalation_starts_the_next_owners_clock_remembering_the_chain(
        demo_bundle: Bundle) -> None:
    parish = escalation.reminded(clock(demo_bundle), T0 + timedelta(hours=48))
    at = T0 + timedelta(hours=96)
    event, delivery = escalation.escalation(parish, owner(demo_bundle, "westbury-dc"), at)
    assert (event.report_reference, event.from_owner.id, event.to_owner.id) == (
        "SP-TEST-0000-0001", "ashcombe-pc", "westbury-dc")
    assert event.sla_hours == 48 and "48 h" in event.reason
    assert delivery.owner.id == "westbury-dc" and delivery.escalated_from == parish.owner
    assert not delivery.reminder and delivery.report == parish.routed.report
    # Repeating it after a crash gives the same event ids.
    again, again_delivery = escalation.escalation(parish, owner(demo_bundle, "westbury-dc"), at)
    assert (again.event_id, again_delivery.event_id) == (event.event_id, delivery.event_id)

    district = escalation.start(escalation.ended(parish, "escalated", at), delivery,
                                partition=2, sla_hours=48, now=at)
    assert district is not None
    assert district.owner.id == "westbury-dc" and district.earlier_owners == ("ashcombe-pc",)
    assert district.reminded_at is None and district.due_at() == at + timedelta(hours=48)
    # The parish's original notification, redelivered late, does not take the report back.
    assert escalation.start(district, located(demo_bundle, "ashcombe-pc"), partition=2,
                            sla_hours=48, now=at) is None


def test_rerouting_to_another_owner_waits_on_the_new_one(demo_bundle: Bundle) -> None:
    parish = clock(demo_bundle)
    rerouted = escalation.start(parish, located(demo_bundle, "westbury-dc"), partition=2,
                                sla_hours=48, now=T0 + timedelta(hours=1))
    assert rerouted is not None
    assert rerouted.owner.id == "westbury-dc" and rerouted.earlier_owners == ()


def test_the_owners_acknowledgement_stops_the_clock(demo_bundle: Bundle) -> None:
    stopped = escalation.acknowledge(clock(demo_bundle), "ashcombe-pc", T0 + timedelta(hours=1))
    assert stopped is not None
    assert (stopped.ended, stopped.acknowledged_by, stopped.due_at()) == (
        "acknowledged", "ashcombe-pc", None)
    assert escalation.acknowledge(stopped, "ashcombe-pc", T0 + timedelta(hours=2)) is None


def test_an_earlier_owners_acknowledgement_stops_the_escalated_clock(
        demo_bundle: Bundle) -> None:
    district = clock(demo_bundle, "westbury-dc", earlier_owners=("ashcombe-pc",))
    stopped = escalation.acknowledge(district, "ashcombe-pc", T0)
    assert stopped is not None and stopped.ended == "acknowledged"


def test_a_stranger_acknowledging_changes_nothing(demo_bundle: Bundle) -> None:
    assert escalation.acknowledge(clock(demo_bundle), "midford-dc", T0) is None


def test_a_clock_survives_its_json_form(demo_bundle: Bundle) -> None:
    c = escalation.reminded(clock(demo_bundle, earlier_owners=("x",)), T0)
    assert SlaClock.model_validate_json(c.model_dump_json()) == c


# --- how reminders and escalations read -------------------------------------------------

def test_a_reminder_is_its_own_message_and_says_so(demo_bundle: Bundle) -> None:
    first = located(demo_bundle, "ashcombe-pc")
    reminder = escalation.reminder(clock(demo_bundle), T0 + timedelta(hours=48))
    _, _, original = render(demo_bundle, first)
    _, _, again = render(demo_bundle, reminder)
    assert again["Subject"].startswith(  # type: ignore[index]
        "[SP-TEST-0000-0001] Reminder, not yet acknowledged: ")
    assert again["Message-ID"] != original["Message-ID"]  # type: ignore[index]
    assert reminder.owner == first.owner and reminder.report == first.report


def test_an_escalation_names_who_it_came_from(demo_bundle: Bundle) -> None:
    _, delivery = escalation.escalation(clock(demo_bundle), owner(demo_bundle, "westbury-dc"), T0)
    _, _, msg = render(demo_bundle, delivery)
    assert "Escalated from Ashcombe Parish Council: " in msg["Subject"]  # type: ignore[index]
    district = demo_bundle.organisations["westbury-dc"]
    assert personalisation(Delivery(delivery, district, None, map_url=""))["notice"] == \
        "Escalated from Ashcombe Parish Council"
    assert webhook_payload(Delivery(delivery, district, None, map_url=""))[
        "escalated_from"]["id"] == "ashcombe-pc"
    assert msg["To"].addresses[0].addr_spec == "reports@westbury-dc.example.org"  # type: ignore[index]


def test_a_reminder_has_its_own_delivery_key_and_only_acknowledgeable_channels_run_clocks(
        demo_bundle: Bundle) -> None:
    first = located(demo_bundle, "ashcombe-pc")
    reminder = escalation.reminder(clock(demo_bundle), T0)
    plain = Notifier(demo_bundle, Channels(), RetryPolicy(), map_link="{lat},{lon}")
    assert plain.delivery_key(reminder) == plain.delivery_key(first) + "/reminder"
    assert not plain.can_be_acknowledged(first)  # no signed links: nobody could acknowledge
    linked = Notifier(demo_bundle, Channels(), RetryPolicy(), map_link="{lat},{lon}",
                      ack_links=AckLinks(b"k" * 32, "http://ack.example", ttl_s=60))
    assert linked.can_be_acknowledged(first)
