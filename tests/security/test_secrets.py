"""No Token A/B/C, admin key or node key in logs, /admin/platforms or /health."""

from __future__ import annotations

import base64
import json

import pytest_twisted
import treq
from twisted.logger import formatEvent, globalLogPublisher

from ocnd.registry.model import Role
from ocnd.testing import MockParty

from networks import MSP_MODULES, network_with_parties
from support import call

LOC = b'{"country_code":"DE","party_id":"CPA","id":"L1","last_updated":"2020-01-01T00:00:00Z"}'


def variants(secret: str) -> set[str]:
    out = {secret, base64.b64encode(secret.encode()).decode()}
    if secret.startswith("0x"):
        out |= {secret[2:], secret[2:].upper()}
    return {s for s in out if len(s) >= 8}


@pytest_twisted.ensureDeferred
async def test_secrets_never_logged_or_listed(tmp_path):
    from twisted.internet import reactor

    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    net = None
    try:
        net = await network_with_parties(tmp_path, env={"OCND_LOGGING_ACCESS_LOG": "true"})
        a = net.node_a
        # one more handshake done by hand so the test knows its Token A
        extra = MockParty(reactor, token_b="token-b-extra-secret", country_code="FR", party_id="EXT", role="EMSP",
                          modules=MSP_MODULES, key="0x" + "e7" * 32)
        await extra.start()
        net.parties.append(extra)
        await a.registry.client.set_party_raw(extra.key, net.chain.dev_accounts[0][1], "FR", "EXT",
                                              [int(Role.EMSP)], a.node_address)
        await net.sync()
        admin = {"Authorization": f"Token {a.admin_key}"}
        r = await treq.post(a.base + "/admin/generate-registration-token", headers=admin, persistent=False,
                            json=[{"country_code": "FR", "party_id": "EXT"}])
        token_a = (await r.json())["token"]
        r = await treq.post(a.base + "/ocpi/2.2.1/credentials", headers={"Authorization": f"Token {token_a}"},
                            json=extra.credentials([extra.role_object()]), persistent=False)
        env = await r.json()
        assert env["status_code"] == 1000, env
        extra.token_c = env["data"]["token"]
        # routed traffic: remote, local, with a token in the query string, failed auth attempts
        code, _, body = await net.cpo.send("PUT", a.base + "/ocpi/receiver/2.2/locations/DE/CPA/L1", ("NL", "MSP"),
                                           body=LOC)
        assert json.loads(body)["status_code"] == 1000, body
        code, _, body = await net.cpo.send("GET", a.base + "/ocpi/receiver/2.2/locations/DE/CPA/L1", ("CH", "MSL"),
                                           params={"token": net.cpo.token_c})
        code, _, body = await extra.send("GET", a.base + "/ocpi/sender/2.2/locations", ("DE", "CPA"))
        assert json.loads(body)["status_code"] == 1000, body
        await call("GET", a.base + "/ocpi/2.2/credentials", headers={"Authorization": f"Token {token_a}"})
        await call("GET", a.base + "/admin/platforms", headers={"Authorization": f"Token {net.node_b.admin_key}"})

        secrets = {token_a, a.admin_key, net.node_b.admin_key, "0x" + "a1" * 32, "0x" + "b2" * 32}
        for p in net.parties:
            secrets |= {p.token_b, p.token_c, p.key}
        forbidden = set().union(*(variants(s) for s in secrets))

        listings = []
        for node in net.nodes:
            _, raw, _ = await call("GET", node.base + "/admin/platforms",
                                   headers={"Authorization": f"Token {node.admin_key}"})
            listings.append(raw.decode())
            _, raw, _ = await call("GET", node.base + "/health?format=json")
            listings.append(raw.decode())
        assert any("FR" in x and "EXT" in x for x in listings)  # the listing does show the platform
    finally:
        if net is not None:
            await net.stop()
        globalLogPublisher.removeObserver(events.append)

    texts = []
    for e in events:
        text = formatEvent(e) or ""
        if "_TrackingSite" in str(e.get("log_namespace")) or text.startswith('"127.0.0.1" - - ['):
            continue  # the mock parties' own Site access logs (combined format; ocnd's OcndSite never
            # writes it): a party legitimately sees the query string the node forwards to it
        texts.append(formatEvent(e) or "")
        if e.get("log_failure") is not None:
            texts.append(e["log_failure"].getTraceback())
        texts.extend(str(v) for k, v in e.items() if isinstance(v, (str, bytes)) and k != "log_format")
    assert any(t.startswith("PUT /ocpi/receiver/2.2/locations/DE/CPA/L1 200") for t in texts)  # access log on
    leaks = sorted({s for s in forbidden for t in texts + listings if s in t})
    where = [t[:300] for t in texts + listings if any(s in t for s in leaks)]
    assert leaks == [], (leaks, where)
