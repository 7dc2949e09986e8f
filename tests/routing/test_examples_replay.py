"""Every official OCPI 2.2.1 example that is a request (or response) body crosses two nodes unchanged."""

from __future__ import annotations

import json
import os

import pytest
import pytest_twisted

from flowkit import bodies
from networks import network_with_parties
from support import EXAMPLES_DIR, example

NOT_REQUEST_BODIES = {
    # fragments of larger objects, not sent on their own
    "location_energymix_example_complete.json", "location_energymix_example_energy_provider.json",
    "location_energymix_example_simple.json", "location_hours_247_open_exception_closing.json",
    "location_hours_opening_hours_with_exceptional_closing.json",
    "location_hours_opening_hours_with_exceptional_opening.json", "location_regularhours_example.json",
    "type_displaytext_example.json",
    # configuration module payloads: exercised by the credentials/versions tests
    "credentials_example.json", "credentials_example2.json", "credentials_example3.json",
    "credentials_example4.json", "version_details_example.json", "version_details_example2.json",
    "versions_info_example.json",
}
RESPONSES = [n for n in sorted(os.listdir(EXAMPLES_DIR)) if n.startswith("transport_and_format_")]
REQUESTS = [n for n in sorted(os.listdir(EXAMPLES_DIR))
            if n.endswith(".json") and n not in NOT_REQUEST_BODIES and n not in RESPONSES]


def plan(name: str, obj: dict):
    """(sender attr, method, path after /ocpi/receiver/2.2/, receiver attr) for an example."""
    if name.startswith("cdr"):
        return "cpo", "POST", "cdrs", "msp"
    module = {"location": "locations", "session": "sessions", "tariff": "tariffs", "token": "tokens"}[
        name.split("_")[0].replace("tariffrestriction", "tariff")]
    sender, receiver = ("msp", "cpo") if module == "tokens" else ("cpo", "msp")
    owner_cc, owner_pid = (obj.get("country_code", "DE"), obj.get("party_id", "CPA")) if "country_code" in obj \
        else (("NL", "MSP") if module == "tokens" else ("DE", "CPA"))
    if "_patch_" in name:
        return sender, "PATCH", f"{module}/{owner_cc}/{owner_pid}/X1", receiver
    if name == "location_put_example_add_evse.json":
        return sender, "PUT", f"locations/DE/CPA/LOC1/{obj['uid']}", receiver
    ident = obj.get("id") or obj.get("uid")
    return sender, "PUT", f"{module}/{owner_cc}/{owner_pid}/{ident}", receiver


@pytest_twisted.async_yield_fixture(scope="module")
async def replay_network(tmp_path_factory):
    net = await network_with_parties(tmp_path_factory.mktemp("replay"),
                                     env={"OCND_ROUTING_OWNERSHIP_EXEMPT": "DE/CPA, NL/MSP"})
    yield net
    await net.stop()


def test_every_example_is_classified():
    assert len(REQUESTS) + len(RESPONSES) + len(NOT_REQUEST_BODIES) == \
        len([n for n in os.listdir(EXAMPLES_DIR) if n.endswith(".json")])
    assert len(REQUESTS) >= 30


@pytest.mark.parametrize("name", REQUESTS)
@pytest_twisted.ensureDeferred
async def test_request_example_arrives_unchanged(replay_network, name):
    net = replay_network
    raw = example(name)
    sender_name, method, path, receiver_name = plan(name, json.loads(raw))
    sender, receiver = getattr(net, sender_name), getattr(net, receiver_name)
    code, _, body = await sender.send(method, f"{sender.node.base}/ocpi/receiver/2.2/{path}",
                                      (receiver.country_code, receiver.party_id), body=raw)
    assert code == 200 and json.loads(body)["status_code"] == 1000, body
    got = [r for r in bodies(receiver, method) if r.path.endswith("/receiver/" + path)]
    assert got and got[-1].body == raw


@pytest.mark.parametrize("name", RESPONSES)
@pytest_twisted.ensureDeferred
async def test_response_example_comes_back_unchanged(replay_network, name):
    net = replay_network
    raw = example(name)
    net.cpo.handler = lambda r: (200, {"X-Total-Count": "7", "X-Limit": "1"}, raw) if r.path.endswith("/sender/tokens") or \
        r.path.endswith("/sender/locations") else None
    try:
        code, headers, body = await net.msp.send("GET", net.msp.node.base + "/ocpi/sender/2.2/locations", ("DE", "CPA"),
                                           sign=False)
    finally:
        net.cpo.handler = None
    assert code == 200 and body == raw
    # "data" comes before "status_code" in these examples: the pagination headers still come through
    assert (headers.get("x-total-count"), headers.get("x-limit")) == ("7", "1")
