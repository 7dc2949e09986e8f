"""Flow: the CPO pushes a Location, PATCHes an EVSE and a connector; the MSP pulls pages across nodes."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest_twisted

from ocnd import ocpi
from ocnd.signing import notary, rawjson

def location(i: int) -> bytes:
    return (b'{"country_code":"DE","party_id":"CPA","id":"LOC%d","publish":true,"address":"Street %d",'
            b'"city":"Gent","country":"BEL","coordinates":{"latitude":"51.047599","longitude":"3.729944"},'
            b'"evses":[{"uid":"E%d","status":"AVAILABLE","connectors":[{"id":"1","standard":"IEC_62196_T2",'
            b'"format":"CABLE","power_type":"AC_3_PHASE","max_voltage":220,"max_amperage":16,'
            b'"last_updated":"2015-03-16T10:10:02Z"}],"last_updated":"2015-06-28T08:12:01Z"}],'
            b'"time_zone":"Europe/Brussels","last_updated":"2015-06-28T08:12:01Z"}') % (i, i, i)


def paginating_cpo(cpo, total: int):
    """CPO locations sender: pages of `limit` with a Link to the next page."""

    def handler(received):
        if received.method != "GET" or not received.path.endswith("/sender/locations"):
            return None
        q = received.query
        offset = int(q.get("offset", ["0"])[0])
        limit = int(q.get("limit", ["2"])[0])
        items = b"[" + b",".join(location(i) for i in range(offset, min(offset + limit, total))) + b"]"
        headers = {"X-Total-Count": str(total), "X-Limit": str(limit)}
        if offset + limit < total:
            headers["Link"] = (f'<{cpo.base}/ocpi/2.2/sender/locations?offset={offset + limit}&limit={limit}>;'
                               ' rel="next"')
        env = b'{"status_code":1000,"data":' + items + b',"timestamp":"2020-01-01T00:00:00Z"}'
        if cpo.key:
            env = cpo.sign_envelope(rawjson.loads(env), headers)
        return 200, headers, env

    cpo.handler = handler


async def pull_all(msp, first_url, to):
    pages = []
    url = first_url
    params = {"limit": "2"}
    while url:
        code, headers, body = await msp.send("GET", url, to, params=params)
        assert code == 200, body
        env = rawjson.loads(body)
        assert env["status_code"] == 1000
        pages.append((headers, env))
        link = headers.get("link")
        url = link[1:link.index(">")] if link else None
        params = None
    return pages


async def _flow(net):
    cpo, msp = net.cpo, net.msp
    base = cpo.node.base
    # push a location, then PATCH an EVSE status and a connector
    code, _, body = await cpo.send("PUT", base + "/ocpi/receiver/2.2/locations/DE/CPA/LOC1", ("NL", "MSP"),
                                   body=location(1))
    assert code == 200 and json.loads(body)["status_code"] == 1000
    patch_evse = b'{"status":"CHARGING","last_updated":"2019-06-24T12:39:09Z"}'
    code, _, body = await cpo.send("PATCH", base + "/ocpi/receiver/2.2/locations/DE/CPA/LOC1/E1", ("NL", "MSP"),
                                   body=patch_evse)
    assert code == 200, body
    patch_conn = b'{"max_amperage":32,"last_updated":"2019-06-24T12:40:00Z"}'
    code, _, body = await cpo.send("PATCH", base + "/ocpi/receiver/2.2/locations/DE/CPA/LOC1/E1/1",
                                   ("NL", "MSP"), body=patch_conn)
    assert code == 200, body
    got = [(r.method, r.path, r.body) for r in msp.received]
    assert got == [
        ("PUT", "/ocpi/2.2/receiver/locations/DE/CPA/LOC1", location(1)),
        ("PATCH", "/ocpi/2.2/receiver/locations/DE/CPA/LOC1/E1", patch_evse),
        ("PATCH", "/ocpi/2.2/receiver/locations/DE/CPA/LOC1/E1/1", patch_conn),
    ]
    # the MSP pulls all locations, 2 per page, across nodes
    paginating_cpo(cpo, total=5)
    pages = await pull_all(msp, msp.node.base + "/ocpi/sender/2.2/locations", ("DE", "CPA"))
    assert len(pages) == 3
    ids = [loc["id"] for _, env in pages for loc in env["data"]]
    assert ids == ["LOC0", "LOC1", "LOC2", "LOC3", "LOC4"]
    for headers, env in pages:
        assert headers["x-total-count"] == "5" and headers["x-limit"] == "2"
    for headers, _ in pages[:-1]:
        link = headers["link"]
        assert link.startswith(f"<{msp.node.base}/ocpi/sender/2.2/locations/page/") and link.endswith('>; rel="next"')
        assert cpo.base not in link  # the CPO's URL is never revealed
    assert "link" not in pages[-1][0]
    # what the CPO saw: offsets 0, 2, 4 with its own query strings
    offsets = [parse_qs(urlsplit("http://x" + r.path + "?" + "&".join(
        f"{k}={v[0]}" for k, v in r.query.items())).query).get("offset", ["0"])[0]
        for r in cpo.received if r.method == "GET"]
    assert offsets == ["0", "2", "4"]
    return pages


@pytest_twisted.ensureDeferred
async def test_location_updates(network):
    await _flow(network)


@pytest_twisted.ensureDeferred
async def test_location_updates_signed(signed_network):
    net = signed_network
    pages = await _flow(net)
    # page responses are re-signed by the MSP's node with the Link rewrite stashed
    headers, env = pages[0]
    n = notary.deserialize(env["ocn_signature"])
    assert n.signatory == net.msp.node.node_address
    assert len(n.rewrites) == 1 and n.rewrites[0].signatory == net.cpo.address
    assert notary.verify(n, notary.response_values(headers, env))


@pytest_twisted.ensureDeferred
async def test_page_link_belongs_to_its_requester(network):
    net = network
    paginating_cpo(net.cpo, total=5)
    code, headers, body = await net.msp.send("GET", net.msp.node.base + "/ocpi/sender/2.2/locations",
                                             ("DE", "CPA"), params={"limit": "2"})
    link = headers["link"][1:headers["link"].index(">")]
    uid = link.rsplit("/", 1)[1]
    # another party on the same node cannot use the MSP's page link
    other = await net.add_party(net.node_b, country_code="NL", party_id="OTH", role="EMSP",
                                modules=(("locations", "RECEIVER"),), key="0x" + "0d" * 32)
    code, _, body = await other.send("GET", link, ("DE", "CPA"))
    b = json.loads(body)
    assert (code, b["status_code"], b["status_message"]) == (404, ocpi.UNKNOWN_LOCATION, "Proxied resource not found")
    assert uid
