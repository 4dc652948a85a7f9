"""Every HTTP channel against a real local HTTP server: what goes on the wire (Notify's JWT and
body, the webhook's signature, Open311's form), what comes back, and every failure mode
classified: timeout, 500, 429 with Retry-After, connection refused, 400."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest

from schemas import NotificationSent, ReporterContact
from services.notifier.channels import Channel, Channels
from services.notifier.channels.govuk_notify import NotifyApiChannel
from services.notifier.channels.open311 import Open311Channel
from services.notifier.channels.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookChannel,
    verify_signature,
)
from services.notifier.delivery import Delivery, DeliveryFailed, RetryPolicy
from services.notifier.notify import Notifier
from signpost.bundle import Bundle, Organisation
from signpost.system import free_port
from tests.integration.local_http import LocalHttpServer, Reply
from tests.unit.test_email_message import routed

pytestmark = pytest.mark.integration
Server = Callable[..., LocalHttpServer]

SERVICE_ID = "26785a09-ab16-4eb0-8407-a37497a57506"
KEY_SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
NOTIFY_KEY = f"signpost_live-{SERVICE_ID}-{KEY_SECRET}"
TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"
HOOK_SECRET = "whsec-test-0123456789"
SECRETS = {"NOTIFY_KEY": NOTIFY_KEY, "HOOK_SECRET": HOOK_SECRET, "OPEN311_KEY": "k-311"}
JSON = {"Content-Type": "application/json"}


def delivery(bundle: Bundle, channel: dict[str, Any], **report: Any) -> Delivery:
    org = Organisation.model_validate(
        {**bundle.organisations["ashcombe-pc"].model_dump(), "channel": channel})
    event = routed(bundle, "ashcombe-pc", **report)
    return Delivery(event, org, bundle.categories.get(event.report.category),
                    map_url="https://maps.example/?lat=51.05&lon=-1.55",
                    ack_url="https://signpost.example/ack/xyz")


def notify_config(url: str) -> dict[str, Any]:
    return {"type": "notify", "template_id": TEMPLATE, "api_key_env": "NOTIFY_KEY",
            "base_url": url}


def webhook_config(url: str) -> dict[str, Any]:
    return {"type": "webhook", "url": f"{url}/signpost", "secret_env": "HOOK_SECRET"}


def open311_config(url: str) -> dict[str, Any]:
    return {"type": "open311", "endpoint": f"{url}/open311/v2", "api_key_env": "OPEN311_KEY",
            "service_code": "SPEED"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=0.5) as c:
        yield c


# GOV.UK Notify

async def test_notify_sends_a_verifiable_jwt_and_the_template_body(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient) -> None:
    server = http_server(Reply(201, json.dumps({"id": "740e5834-3a29-46b4-9a6f-16142fde533a",
                                                "reference": "SP-TEST-0000-0001"}), JSON))
    channel = NotifyApiChannel(client, SECRETS.get)
    notification_id = await channel.send(delivery(demo_bundle, notify_config(server.url)))
    assert notification_id == "740e5834-3a29-46b4-9a6f-16142fde533a"
    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/v2/notifications/email")
    scheme, token = request.headers["Authorization"].split(" ")
    claims = jwt.decode(token, KEY_SECRET, algorithms=["HS256"])
    assert scheme == "Bearer" and claims["iss"] == SERVICE_ID
    assert abs(claims["iat"] - time.time()) < 5
    body = json.loads(request.body)
    assert body["email_address"] == "clerk@ashcombe-pc.example.org"
    assert (body["template_id"], body["reference"]) == (TEMPLATE, "SP-TEST-0000-0001")
    personalisation = body["personalisation"]
    assert personalisation["answers"] == ["What is the speed limit on the road? 30"]
    assert personalisation["map_link"] == "https://maps.example/?lat=51.05&lon=-1.55"
    assert personalisation["ack_link"] == "https://signpost.example/ack/xyz"
    assert personalisation["description"] == "Cars race past the school"
    assert personalisation["reporter_email"] == ""  # the parish may not see it
    assert set(personalisation) >= {"reference", "category", "location"}


async def test_notify_validation_error_is_permanent_with_notifys_message(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient) -> None:
    error = {"status_code": 400, "errors": [
        {"error": "BadRequestError", "message": "Missing personalisation: ward"}]}
    server = http_server(Reply(400, json.dumps(error), JSON))
    with pytest.raises(DeliveryFailed) as failed:
        await NotifyApiChannel(client, SECRETS.get).send(
            delivery(demo_bundle, notify_config(server.url)))
    assert failed.value.permanent
    assert "BadRequestError: Missing personalisation: ward" in failed.value.reason


async def test_a_malformed_notify_key_fails_permanently_before_any_request(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient) -> None:
    server = http_server()
    channel = NotifyApiChannel(client, {"NOTIFY_KEY": "not-a-key"}.get)
    with pytest.raises(DeliveryFailed) as failed:
        await channel.send(delivery(demo_bundle, notify_config(server.url)))
    assert failed.value.permanent and "not-a-key" not in failed.value.reason
    assert server.requests == []


# Signed webhook

async def test_webhook_receiver_verifies_the_signature(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient) -> None:
    server = http_server(Reply(204))
    channel = WebhookChannel(client, SECRETS.get)
    await channel.send(delivery(demo_bundle, webhook_config(server.url)))
    [request] = server.requests
    timestamp, signature = request.headers[TIMESTAMP_HEADER], request.headers[SIGNATURE_HEADER]
    assert signature.startswith("sha256=")
    assert verify_signature(HOOK_SECRET, timestamp, request.body, signature)
    assert not verify_signature("wrong-secret", timestamp, request.body, signature)
    assert not verify_signature(HOOK_SECRET, timestamp, request.body + b" ", signature)
    assert not verify_signature(HOOK_SECRET, timestamp, request.body, signature,
                                now=int(timestamp) + 301)  # a replay, too late
    body = json.loads(request.body)
    assert body["reference"] == "SP-TEST-0000-0001" and body["owner"]["id"] == "ashcombe-pc"
    assert body["answers"] == {"speed_limit": "30"} and body["location"]["lat"] == 51.05
    assert body["trace"]["matched_rule"] == "rule-x" and body["reporter"] is None


async def test_webhook_carries_the_reporter_only_where_allowed(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient) -> None:
    server = http_server(Reply(200))
    d = delivery(demo_bundle, webhook_config(server.url),
                 reporter=ReporterContact(name="Rita Resident", email="rita@example.com"))
    allowed = Delivery(d.routed, d.organisation.model_copy(update={"share_reporter_details": True}),
                       d.category, d.map_url)
    channel = WebhookChannel(client, SECRETS.get)
    await channel.send(d)
    await channel.send(allowed)
    first, second = (json.loads(r.body) for r in server.requests)
    assert first["reporter"] is None and second["reporter"]["name"] == "Rita Resident"


# Open311 GeoReport v2

async def test_open311_records_the_service_request_id(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient) -> None:
    server = http_server(Reply(201, '[{"service_request_id": "638344", "service_notice": ""}]',
                               JSON))
    external_id = await Open311Channel(client, SECRETS.get).send(
        delivery(demo_bundle, open311_config(server.url)))
    assert external_id == "638344"
    [request] = server.requests
    assert request.path == "/open311/v2/requests.json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
    assert (form["api_key"], form["service_code"]) == ("k-311", "SPEED")
    assert (form["lat"], form["long"]) == ("51.050000", "-1.550000")
    assert form["attribute[speed_limit]"] == "30"
    assert form["description"].startswith("Cars race past the school")
    assert "SP-TEST-0000-0001" in form["description"] and "email" not in form


async def test_open311_token_is_recorded_when_the_id_comes_later(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient) -> None:
    server = http_server(Reply(200, '[{"token": "12345"}]', JSON))
    assert await Open311Channel(client, SECRETS.get).send(
        delivery(demo_bundle, open311_config(server.url))) == "token:12345"


async def test_open311_error_list_is_the_permanent_reason(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient) -> None:
    server = http_server(Reply(400, '[{"code": 400, "description": "service_code not found"}]',
                               JSON))
    with pytest.raises(DeliveryFailed) as failed:
        await Open311Channel(client, SECRETS.get).send(
            delivery(demo_bundle, open311_config(server.url)))
    assert failed.value.permanent and "service_code not found" in failed.value.reason


# Failure modes, every HTTP channel

CHANNELS: dict[str, tuple[Callable[[httpx.AsyncClient], Channel],
                          Callable[[str], dict[str, Any]]]] = {
    "notify": (lambda c: NotifyApiChannel(c, SECRETS.get), notify_config),
    "webhook": (lambda c: WebhookChannel(c, SECRETS.get), webhook_config),
    "open311": (lambda c: Open311Channel(c, SECRETS.get), open311_config),
}
FAILURES = {
    "timeout": (Reply(200, delay_s=1.5), False, None),
    "500": (Reply(500, "<html>Internal Server Error</html>"), False, None),
    "429 with Retry-After": (Reply(429, '{"errors": []}', {"Retry-After": "7"}), False, 7.0),
    "400": (Reply(400, "[]"), True, None),
}


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("kind", CHANNELS)
async def test_failures_are_classified(http_server: Server, demo_bundle: Bundle,
                                       client: httpx.AsyncClient, kind: str,
                                       failure: str) -> None:
    reply, permanent, retry_after = FAILURES[failure]
    server = http_server(reply)
    make, config = CHANNELS[kind]
    with pytest.raises(DeliveryFailed) as failed:
        await make(client).send(delivery(demo_bundle, config(server.url)))
    assert failed.value.permanent is permanent
    assert failed.value.retry_after_s == retry_after


@pytest.mark.parametrize("kind", CHANNELS)
async def test_connection_refused_is_transient(demo_bundle: Bundle, client: httpx.AsyncClient,
                                               kind: str) -> None:
    make, config = CHANNELS[kind]
    with pytest.raises(DeliveryFailed) as failed:
        await make(client).send(delivery(demo_bundle, config(f"http://127.0.0.1:{free_port()}")))
    assert failed.value.permanent is False and "unreachable" in failed.value.reason


# The Notifier's retry loop over the wire

@pytest.mark.parametrize("kind", CHANNELS)
async def test_two_500s_then_success_delivers_exactly_once(
        http_server: Server, demo_bundle: Bundle, client: httpx.AsyncClient, kind: str) -> None:
    accepted = {"notify": ('{"id": "n-1"}', "n-1"), "webhook": ("", None),
                "open311": ('[{"service_request_id": "9"}]', "9")}
    body, external_id = accepted[kind]
    server = http_server(Reply(500), Reply(500), Reply(201, body, JSON))
    make, config = CHANNELS[kind]
    orgs = dict(demo_bundle.organisations)
    orgs["ashcombe-pc"] = delivery(demo_bundle, config(server.url)).organisation
    bundle = Bundle("b", "1", orgs, demo_bundle.categories, [], [])
    notifier = Notifier(bundle, Channels(make(client)),
                        RetryPolicy(attempts=5, base_s=0.01, cap_s=0.02), map_link="{lat},{lon}")
    outcome = await notifier.notify(routed(bundle, "ashcombe-pc"))
    assert isinstance(outcome, NotificationSent) and outcome.channel == kind
    assert outcome.external_id == external_id
    assert len(server.requests) == 3  # two refused, one accepted: told exactly once
    assert len({r.body for r in server.requests}) == 1  # each retry resends the same message
