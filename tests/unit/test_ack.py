"""Acknowledgement links: signed over report, owner and expiry; unforgeable and expiring."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from services.notifier.channels import Channels
from services.notifier.delivery import RetryPolicy
from services.notifier.notify import Notifier
from signpost.acklinks import AckLinks, InvalidAck, load_key
from signpost.bundle import Bundle
from tests.unit.test_email_message import routed
from tests.unit.test_notify import ScriptedChannel

KEY = b"k" * 32


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def parts(link: str) -> tuple[str, str, str, str]:
    url = urlsplit(link)
    _, _, reference, owner = url.path.split("/")
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    return reference, owner, query["expires"], query["sig"]


def test_a_link_verifies_until_it_expires() -> None:
    clock = Clock()
    links = AckLinks(KEY, "https://signpost.example/", ttl_s=3600, clock=clock)
    link = links.link("SP-TEST-0000-0001", "ashcombe-pc")
    assert link.startswith("https://signpost.example/ack/SP-TEST-0000-0001/ashcombe-pc?")
    ack = links.verify(*parts(link))
    assert (ack.reference, ack.owner_id, ack.expires_at) == (
        "SP-TEST-0000-0001", "ashcombe-pc", 1_800_003_600)
    clock.now += 3601
    with pytest.raises(InvalidAck, match="expired"):
        links.verify(*parts(link))


@pytest.mark.parametrize("tamper", [
    lambda p: ("SP-TEST-0000-0002", *p[1:]),  # another report
    lambda p: (p[0], "vale-county", *p[2:]),  # another owner
    lambda p: (*p[:2], str(int(p[2]) + 86_400), p[3]),  # a longer life
    lambda p: (*p[:3], p[3][:-1] + ("A" if p[3][-1] != "A" else "B")),  # a guessed signature
    lambda p: (*p[:2], "soon", p[3]),
])
def test_altered_links_are_refused(tamper: object) -> None:
    links = AckLinks(KEY, "https://s.example", ttl_s=3600, clock=Clock())
    original = parts(links.link("SP-TEST-0000-0001", "ashcombe-pc"))
    with pytest.raises(InvalidAck):
        links.verify(*tamper(original))  # type: ignore[operator]


def test_a_link_signed_with_another_key_is_refused() -> None:
    other = AckLinks(b"o" * 32, "https://s.example", ttl_s=3600, clock=Clock())
    mine = AckLinks(KEY, "https://s.example", ttl_s=3600, clock=Clock())
    with pytest.raises(InvalidAck, match="signature"):
        mine.verify(*parts(other.link("SP-TEST-0000-0001", "ashcombe-pc")))


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        AckLinks(b"short", "https://s.example", ttl_s=60)


def test_key_from_environment_or_file(tmp_path: Path) -> None:
    path = tmp_path / "ack.key"
    path.write_bytes(KEY + b"\n")
    assert load_key("from-env", path) == b"from-env"
    assert load_key(None, path) == KEY
    assert load_key(None, None) is None


async def test_every_message_carries_the_link(demo_bundle: Bundle) -> None:
    channel = ScriptedChannel()
    links = AckLinks(KEY, "https://s.example", ttl_s=3600, clock=Clock())
    notifier = Notifier(demo_bundle, Channels(channel), RetryPolicy(), map_link="{lat},{lon}",
                        ack_links=links)
    await notifier.notify(routed(demo_bundle, "ashcombe-pc"))
    [delivery] = channel.delivered
    assert delivery.ack_url and links.verify(*parts(delivery.ack_url)).owner_id == "ashcombe-pc"
