"""Metrics, hop log and cross-node trace of real routed requests on two nodes."""

from __future__ import annotations

import json
import time

import pytest_twisted
from twisted.logger import globalLogPublisher

from ocnd.api.status import trace_message
from ocnd.signing import wire
from obskit import admin, get_json, push_location
from support import call


def sample(text: str, name: str, **labels) -> float | None:
    """The value of one sample in Prometheus text format."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if not head.startswith(name + "{") and head != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return None


@pytest_twisted.ensureDeferred
async def test_metrics_count_hops_per_node(network):
    net = network
    a, b = net.node_a, net.node_b
    code, _, body = await push_location(net.cpo, net.msp, "corr-metrics-remote")
    assert code == 200 and json.loads(body)["status_code"] == 1000
    code, _, body = await push_location(net.cpo, net.msp_local, "corr-metrics-local")
    assert code == 200
    # a request for a party nobody knows is counted as an error hop that went nowhere
    code, _, body = await net.cpo.send("GET", a.base + "/ocpi/sender/2.2/locations", ("XX", "NOP"))
    assert json.loads(body)["status_code"] != 1000

    code, body, response = await call("GET", a.base + "/metrics")
    assert code == 401  # default [observability] metrics = admin
    code, body, response = await call("GET", a.base + "/metrics", headers=admin(a))
    assert code == 200
    assert response.headers.getRawHeaders("content-type")[0].startswith("text/plain; version=")
    text = body.decode()
    assert sample(text, "ocnd_routed_requests_total", direction="party", module="locations",
                  interface="RECEIVER", target="remote", status="1000") == 1
    assert sample(text, "ocnd_routed_requests_total", direction="party", module="locations",
                  interface="RECEIVER", target="local", status="1000") == 1
    assert sample(text, "ocnd_routed_requests_total", direction="party", module="locations",
                  interface="SENDER", target="none") == 1
    assert sample(text, "ocnd_routing_latency_seconds_count", direction="party", target="remote") == 1
    assert sample(text, "ocnd_forwarded_bytes_total", direction="party", kind="request") > 0
    assert sample(text, "ocnd_registry_ok") == 1
    assert sample(text, "ocnd_registry_snapshot_age_seconds") >= 0
    assert sample(text, "ocnd_registry_rpc_errors_total") == 0
    assert sample(text, "ocnd_store_seconds_count", op="read") > 0
    assert sample(text, "ocnd_trace_hops") == 3
    assert f'address="{a.node_address.lower()}"' in text
    # node B has its own registry: it saw exactly one hop, arriving from a node
    code, body, _ = await call("GET", b.base + "/metrics", headers=admin(b))
    text_b = body.decode()
    assert sample(text_b, "ocnd_routed_requests_total", direction="node", module="locations",
                  interface="RECEIVER", target="local", status="1000") == 1
    assert sample(text_b, "ocnd_routed_requests_total", direction="party") is None
    # nothing secret in the exposition
    for secret in (a.admin_key, net.cpo.token_c, net.msp.token_b, "LOC1"):
        assert secret not in text


@pytest_twisted.ensureDeferred
async def test_hop_log_has_ids_and_no_secrets(network):
    net = network
    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        code, _, _ = await push_location(net.cpo, net.msp, "corr-log-1")
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert code == 200
    hops = [e for e in events if e.get("log_namespace") == "ocnd.routing.hop"]
    assert [h["direction"] for h in hops] == ["node", "party"]  # B answers before A finishes
    for h in hops:
        assert h["correlation_id"] == "corr-log-1"
        assert h["request_id"] and h["module"] == "locations" and h["status_code"] == 1000
        # the event serializes to JSON (journald / twist --log-format json)
        from twisted.logger import eventAsJSON, formatEvent

        as_json = eventAsJSON(h)
        text = formatEvent(h)
        assert "corr-log-1" in text
        for secret in (net.cpo.token_c, net.msp.token_b, "Street 1", "LOC1"):
            assert secret not in as_json and secret not in text


@pytest_twisted.ensureDeferred
async def test_admin_trace_spans_both_nodes(network):
    net = network
    a, b = net.node_a, net.node_b
    cid = "corr-trace-1"
    code, _, _ = await push_location(net.cpo, net.msp, cid)
    assert code == 200
    code, _ = await get_json(a.base + f"/admin/trace/{cid}")
    assert code == 401
    for asked in (a, b):  # either end shows the whole path
        code, trace = await get_json(asked.base + f"/admin/trace/{cid}", admin(asked))
        assert code == 200, trace
        assert trace["nodes"] == {a.base: "ok", b.base: "ok"}
        hops = trace["hops"]
        assert [(h["node"], h["direction"], h["target"]) for h in hops] == \
            [(a.base, "party", "remote"), (b.base, "node", "local")]
        first, second = hops
        assert first["target_node"] == b.base and first["sender"] == "DE/CPA" and first["receiver"] == "NL/MSP"
        assert second["peer_node"] == a.base and second["status_code"] == 1000
        assert all(h["correlation_id"] == cid for h in hops)
        assert first["request_id"] == second["request_id"]  # the party's X-Request-ID travels in the message
        assert "body" not in json.dumps(hops) and net.cpo.token_c not in json.dumps(hops)
    # unknown correlation id: nothing, no remote calls
    code, trace = await get_json(a.base + "/admin/trace/nope", admin(a))
    assert trace == {"correlation_id": "nope", "nodes": {a.base: "ok"}, "hops": []}


@pytest_twisted.ensureDeferred
async def test_node_trace_requires_a_registered_node_signature(network):
    net = network
    a, b = net.node_a, net.node_b
    cid = "corr-trace-2"
    await push_location(net.cpo, net.msp, cid)
    await push_location(net.cpo, net.msp_local, cid)  # same correlation id, stays on node A
    url = a.base + f"/ocn/trace/{cid}"

    def signed(key, ts=None, node_url=a.base):
        ts = str(int(time.time())) if ts is None else ts
        return {"OCN-Signature": wire.sign_body(trace_message(cid, ts, node_url), key), "OCN-Timestamp": ts}

    code, _ = await get_json(url)
    assert code == 400
    code, _ = await get_json(url, signed(net.cpo.key))  # a party key, not a node operator
    assert code == 403
    code, _ = await get_json(url, signed(b.node_key, ts=str(int(time.time()) - 3600)))  # stale
    assert code == 403
    code, _ = await get_json(url, signed(b.node_key, node_url=b.base))  # signed for another node
    assert code == 403
    code, answer = await get_json(url, signed(b.node_key))
    assert code == 200
    # only the hop exchanged with node B, not the local delivery to CH/MSL
    assert [(h["direction"], h["receiver"]) for h in answer["hops"]] == [("party", "NL/MSP")]
    code, answer = await get_json(url, signed(a.node_key))  # itself: it exchanged nothing with itself
    assert code == 200 and answer["hops"] == []


@pytest_twisted.ensureDeferred
async def test_trace_reports_an_unreachable_next_node(network):
    net = network
    a, b = net.node_a, net.node_b
    cid = "corr-trace-3"
    await push_location(net.cpo, net.msp, cid)
    await b.port.stopListening()
    b.port = None
    await a.pool.closeCachedConnections()  # no kept-alive connection to B either
    code, trace = await get_json(a.base + f"/admin/trace/{cid}", admin(a))
    assert code == 200
    assert trace["nodes"][a.base] == "ok" and trace["nodes"][b.base].startswith("error:")
    assert [h["node"] for h in trace["hops"]] == [a.base]
