"""OS grid references: right for known places, the inverse of intake's conversion, None outside
the National Grid, and shown by every channel."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from schemas import Location
from services.intake.location import bng_to_wgs84
from services.notifier.channels.govuk_notify import personalisation
from services.notifier.channels.open311 import request_form
from services.notifier.channels.webhook import payload
from services.notifier.delivery import Delivery
from services.notifier.message import render_email
from signpost.bundle import Bundle
from signpost.gridref import bng_grid_reference, grid_reference
from tests.unit.test_email_message import routed


@pytest.mark.parametrize(("place", "lat", "lon", "six_figure"), [
    # Summits, from their published positions and OS six-figure references (100 m).
    ("Ben Nevis", 56.79694, -5.00361, "NN 166 712"),
    ("Snowdon", 53.06861, -4.07611, "SH 609 543"),
    ("Scafell Pike", 54.45417, -3.21167, "NY 215 072"),
])
def test_known_summits(place: str, lat: float, lon: float, six_figure: str) -> None:
    reference = grid_reference(lat, lon)
    assert reference is not None, place
    letters, east, north = reference.split(" ")
    assert f"{letters} {east[:3]} {north[:3]}" == six_figure, place


@pytest.mark.parametrize(("easting", "northing", "reference"), [
    (216_667, 771_285, "NN 16667 71285"),
    (0, 0, "SV 00000 00000"),  # the grid's false origin, off the Scillies
    (530_259.9, 179_506.2, "TQ 30259 79506"),  # truncated, not rounded
    (699_999, 1_299_999, "JM 99999 99999"),
    (460_000, 1_140_000, "HU 60000 40000"),  # Shetland
])
def test_letters_and_digits(easting: float, northing: float, reference: str) -> None:
    assert bng_grid_reference(easting, northing) == reference


@given(st.integers(0, 699_999), st.integers(0, 1_299_999))
def test_a_grid_point_given_to_intake_comes_back_as_itself(easting: int, northing: int) -> None:
    lat, lon = bng_to_wgs84(easting, northing)
    # Within Great Britain's area both directions use the same transformation; far offshore
    # PROJ picks coarser ones, which need not agree to the metre.
    assume(-8.82 < lon < 1.92 and 49.79 < lat < 60.94)
    assert grid_reference(lat, lon) == bng_grid_reference(easting, northing)


@pytest.mark.parametrize(("lat", "lon"), [
    (48.8566, 2.3522),  # Paris: south of the grid
    (40.7, -74.0),  # New York
    (-33.8, 151.2),
    (math.nan, 0.0),
])
def test_outside_the_national_grid_is_none(lat: float, lon: float) -> None:
    assert grid_reference(lat, lon) is None


@pytest.mark.parametrize(("easting", "northing"), [
    (-1, 5), (5, -1), (700_000, 5), (5, 1_300_000), (math.inf, 0)])
def test_off_the_grid_edges_is_none(easting: float, northing: float) -> None:
    assert bng_grid_reference(easting, northing) is None


def delivery(bundle: Bundle, location: Location) -> Delivery:
    event = routed(bundle, "ashcombe-pc", location=location)
    return Delivery(event, bundle.organisations["ashcombe-pc"], bundle.categories["speeding"],
                    map_url="https://maps.example/")


def test_every_channel_shows_it(demo_bundle: Bundle) -> None:
    vale = delivery(demo_bundle, Location(lat=51.05, lon=-1.55))
    expected = grid_reference(51.05, -1.55)
    assert expected == "SU 31639 27946"
    msg = render_email(vale, sender="s@example.org").parsed()
    assert expected in msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert expected in msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert personalisation(vale)["grid_reference"] == expected
    assert payload(vale)["grid_reference"] == expected
    assert request_form(vale, "SPEED", "k")["description"].endswith(f"Grid reference: {expected}")


def test_outside_the_grid_it_is_left_out(demo_bundle: Bundle) -> None:
    paris = delivery(demo_bundle, Location(lat=48.8566, lon=2.3522))
    msg = render_email(paris, sender="s@example.org").parsed()
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Grid ref" not in text and "Grid reference" not in html
    assert personalisation(paris)["grid_reference"] == ""  # Notify needs every placeholder
    assert payload(paris)["grid_reference"] is None
    assert "Grid reference" not in request_form(paris, "SPEED", "k")["description"]
