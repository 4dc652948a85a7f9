"""Open311 GeoReport v2: forward the report to the organisation's own case system.

`POST {endpoint}/requests.json`, form-encoded; the answer is `[{"service_request_id": ...}]`,
or `[{"token": ...}]` when the server assigns the id later (recorded as `token:<token>`).
Errors are a list of `{code, description}`.
"""

from __future__ import annotations

import os

import httpx

from services.notifier.channels import Secrets, config_of, secret
from services.notifier.channels.http import post
from services.notifier.delivery import Delivery
from signpost.bundle import Open311Config
from signpost.runtime.logging import get_logger

log = get_logger(__name__)


class Open311Channel:
    name = "open311"

    def __init__(self, client: httpx.AsyncClient, secrets: Secrets = os.environ.get) -> None:
        self.client, self.secrets = client, secrets

    async def send(self, delivery: Delivery) -> str | None:
        config = config_of(delivery, Open311Config)
        form = request_form(delivery, config.service_code,
                            secret(self.secrets, config.api_key_env))
        response = await post(self.client, f"{config.endpoint.rstrip('/')}/requests.json",
                              "Open311", open311_error, data=form)
        external_id = request_id(response)
        if external_id is None:
            # Accepted all the same: failing now would file a duplicate on the retry.
            log.warning("open311_no_request_id", owner=delivery.organisation.id)
        return external_id


def request_form(delivery: Delivery, service_code: str, api_key: str) -> dict[str, str]:
    report, reporter = delivery.report, delivery.reporter
    # GeoReport v2 has no field for a grid reference, so it goes where a case officer reads.
    grid = f"\nGrid reference: {delivery.grid_reference}" if delivery.grid_reference else ""
    form = {
        "api_key": api_key,
        "service_code": service_code,
        "lat": f"{report.location.lat:.6f}",
        "long": f"{report.location.lon:.6f}",
        "description": (f"{report.description}\n\n"
                        f"Signpost reference: {report.reference}{grid}").strip(),
        **{f"attribute[{qid}]": answer for qid, answer in report.answers.items()},
    }
    if reporter:
        first, _, last = (reporter.name or "").rpartition(" ")
        contact = {"email": reporter.email, "first_name": first or last,
                   "last_name": last if first else None, "phone": reporter.phone}
        form.update({k: v for k, v in contact.items() if v})
    return form


def request_id(response: httpx.Response) -> str | None:
    try:
        first = response.json()[0]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if not isinstance(first, dict):
        return None
    if first.get("service_request_id"):
        return str(first["service_request_id"])
    return f"token:{first['token']}" if first.get("token") else None


def open311_error(response: httpx.Response) -> str:
    return "; ".join(f"{e['code']} {e['description']}" for e in response.json())
