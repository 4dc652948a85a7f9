"""The Modern.Gov clerk look-up against a real local HTTP server serving the web service's
XML: found, cached, and every way it can fail falling back to the bundle's clerk, counted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from prometheus_client import REGISTRY

from schemas import NotificationSent
from services.notifier.channels import Channels
from services.notifier.delivery import RetryPolicy
from services.notifier.directory import StaticDirectory
from services.notifier.modern_gov import ModernGovDirectory
from services.notifier.notify import Notifier
from signpost.bundle import Bundle, Organisation
from signpost.system import free_port
from tests.integration.local_http import LocalHttpServer, Reply
from tests.unit.test_email_message import routed
from tests.unit.test_notify import ScriptedChannel

pytestmark = pytest.mark.integration
Server = Callable[..., LocalHttpServer]

COUNCILLORS_BY_WARD = """<?xml version="1.0" encoding="utf-8"?>
<councillorsbyward><wards>
<ward><wardtitle>Ashcombe</wardtitle><councillors>
  <councillor><councillorid>101</councillorid><fullusername>Councillor Ada Ash</fullusername>
    <politicalpartytitle>Independent</politicalpartytitle>
    <workaddress><email>ada.ash@vale.example.org</email><phone>01234 000101</phone></workaddress>
  </councillor>
  <councillor><councillorid>102</councillorid><fullusername>Councillor Bo Birch</fullusername>
    <politicalpartytitle>Green</politicalpartytitle>
    <workaddress><email>bo.birch@vale.example.org</email><phone/></workaddress>
  </councillor>
</councillors></ward>
<ward><wardtitle>Bramley Green</wardtitle><councillors>
  <councillor><councillorid>201</councillorid><fullusername>Councillor Cy Cole</fullusername>
    <politicalpartytitle>Labour</politicalpartytitle>
    <workaddress><email></email><phone/></workaddress>
  </councillor>
</councillors></ward>
</wards></councillorsbyward>"""
XML = {"Content-Type": "text/xml; charset=utf-8"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def with_lookup(org: Organisation, base_url: str, **lookup: object) -> Organisation:
    block = {"base_url": base_url, "method": "GetCouncillorsByWard", "match_value": "102",
             **lookup}
    return Organisation.model_validate({**org.model_dump(), "modern_gov": block})


def directory(bundle: Bundle, client: httpx.AsyncClient, clock: Clock) -> ModernGovDirectory:
    return ModernGovDirectory(StaticDirectory(bundle), client, timeout_s=0.3, ttl_s=60,
                              failure_ttl_s=10, clock=clock)


def fallbacks(reason: str) -> float:
    return REGISTRY.get_sample_value("signpost_directory_fallbacks_total",
                                     {"reason": reason}) or 0.0


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


async def test_councillor_by_id_and_the_answer_is_cached(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient) -> None:
    server = http_server(Reply(body=COUNCILLORS_BY_WARD, headers=XML))
    org = with_lookup(demo_bundle.organisations["ashcombe-pc"], server.url,
                      params={"lWardId": "7"})
    clock = Clock()
    mg = directory(demo_bundle, client, clock)
    clerk = await mg.clerk_for(org)
    assert (clerk.name, clerk.email) == ("Councillor Bo Birch", "bo.birch@vale.example.org")
    await mg.clerk_for(org)
    assert len(server.requests) == 1  # cached
    assert server.requests[0].path == "/mgWebService.asmx/GetCouncillorsByWard"
    assert server.requests[0].query == {"lWardId": ["7"]}
    clock.now += 61
    await mg.clerk_for(org)
    assert len(server.requests) == 2  # expired, fetched again


async def test_first_councillor_of_a_ward_by_title(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient) -> None:
    server = http_server(Reply(body=COUNCILLORS_BY_WARD, headers=XML))
    org = with_lookup(demo_bundle.organisations["ashcombe-pc"], server.url,
                      entry_path=".//ward", match_path="wardtitle", match_value="ashcombe",
                      name_path="councillors/councillor/fullusername",
                      email_path="councillors/councillor/workaddress/email")
    clerk = await directory(demo_bundle, client, Clock()).clerk_for(org)
    assert clerk.email == "ada.ash@vale.example.org"


SLOW = Reply(body=COUNCILLORS_BY_WARD, delay_s=1.5)
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          '<!ENTITY lol2 "&lol;&lol;&lol;">]><councillorsbyward>&lol2;</councillorsbyward>')


@pytest.mark.parametrize(("replies", "match", "reason"), [
    ([SLOW], "102", "timeout"),
    ([Reply(status=500, body="Server Error")], "102", "unavailable"),
    ([Reply(body="<councillorsbyward><wards><ward>", headers=XML)], "102", "malformed"),
    ([Reply(body="<html><body>Maintenance</body></htm>")], "102", "malformed"),
    ([Reply(body=LAUGHS, headers=XML)], "102", "malformed"),  # entities refused
    ([Reply(body=COUNCILLORS_BY_WARD, headers=XML)], "999", "no_match"),
    ([Reply(body=COUNCILLORS_BY_WARD, headers=XML)], "201", "incomplete"),  # no email
])
async def test_failures_fall_back_to_the_bundle_clerk_and_count(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient,
        replies: list[Reply], match: str, reason: str) -> None:
    server = http_server(*replies)
    static = demo_bundle.organisations["ashcombe-pc"]
    before = fallbacks(reason)
    clerk = await directory(demo_bundle, client, Clock()).clerk_for(
        with_lookup(static, server.url, match_value=match))
    assert clerk == static.clerk
    assert fallbacks(reason) == before + 1


async def test_connection_refused_falls_back(demo_bundle: Bundle,
                                             client: httpx.AsyncClient) -> None:
    static = demo_bundle.organisations["ashcombe-pc"]
    before = fallbacks("unavailable")
    clerk = await directory(demo_bundle, client, Clock()).clerk_for(
        with_lookup(static, f"http://127.0.0.1:{free_port()}"))
    assert clerk == static.clerk and fallbacks("unavailable") == before + 1


async def test_a_failing_service_is_not_asked_again_until_the_failure_expires(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient) -> None:
    server = http_server(Reply(status=503), Reply(body=COUNCILLORS_BY_WARD, headers=XML))
    org = with_lookup(demo_bundle.organisations["ashcombe-pc"], server.url)
    clock = Clock()
    mg = directory(demo_bundle, client, clock)
    assert await mg.clerk_for(org) == org.clerk
    assert await mg.clerk_for(org) == org.clerk
    assert len(server.requests) == 1
    clock.now += 11
    assert (await mg.clerk_for(org)).email == "bo.birch@vale.example.org"


async def test_asmx_string_wrapper_and_namespaces_are_handled(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient) -> None:
    inner = COUNCILLORS_BY_WARD.split("?>", 1)[1].replace(
        "<councillorsbyward>", '<councillorsbyward xmlns="http://moderngov.example/ns">')
    escaped = inner.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    wrapped = f'<?xml version="1.0"?><string xmlns="http://tempuri.org/">{escaped}</string>'
    server = http_server(Reply(body=wrapped, headers=XML))
    org = with_lookup(demo_bundle.organisations["ashcombe-pc"], server.url)
    assert (await directory(demo_bundle, client, Clock()).clerk_for(org)).name == \
        "Councillor Bo Birch"


def test_bad_element_paths_are_refused_when_the_bundle_loads(demo_bundle: Bundle) -> None:
    with pytest.raises(ValueError, match="ElementTree path"):
        with_lookup(demo_bundle.organisations["ashcombe-pc"], "https://mg.example.org",
                    entry_path="/absolute")


async def test_the_notifier_tells_the_looked_up_clerk(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient) -> None:
    server = http_server(Reply(body=COUNCILLORS_BY_WARD, headers=XML))
    orgs = dict(demo_bundle.organisations)
    orgs["ashcombe-pc"] = with_lookup(orgs["ashcombe-pc"], server.url)
    bundle = Bundle("b", "1", orgs, demo_bundle.categories, [], [])
    channel = ScriptedChannel()
    notifier = Notifier(bundle, Channels(channel), RetryPolicy(), map_link="{lat},{lon}",
                        directory=directory(bundle, client, Clock()))
    assert isinstance(await notifier.notify(routed(bundle, "ashcombe-pc")), NotificationSent)
    [delivery] = channel.delivered
    assert delivery.organisation.clerk.email == "bo.birch@vale.example.org"
