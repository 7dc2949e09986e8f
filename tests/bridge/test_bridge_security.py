"""Token B, OCN-Signature checks, restart without handshake, module gating."""

from __future__ import annotations

import json

import pytest
import pytest_twisted
import treq

from ocnd.bridge import Bridge, MissingImplementation, SignatureError
from ocnd.signing import notary, rawjson

from ocnd.bridge.testing import CPO_KEY, MSP_KEY, RecordingCpo, registry_for

CPO = ("DE", "CPB")
MSP = ("NL", "MSB")


def _headers(net, token, **extra):
    h = {"Authorization": f"Token {token}", "X-Request-ID": "r1", "X-Correlation-ID": "c1",
         "OCPI-from-country-code": "NL", "OCPI-from-party-id": "MSB",
         "OCPI-to-country-code": "DE", "OCPI-to-party-id": "CPB"}
    h.update(extra)
    return h


@pytest_twisted.ensureDeferred
async def test_wrong_token_b_is_refused(bridged):
    net = bridged
    base = f"{net.cpo.config.public_url}/ocpi"
    for url in (base + "/versions", base + "/sender/2.2/locations"):
        response = await treq.get(url, headers={"Authorization": "Token wrong"}, persistent=False)
        body = json.loads(await response.content())
        assert response.code == 401 and body["status_code"] == 2001
    response = await treq.get(base + "/versions", persistent=False)
    assert response.code == 401


@pytest_twisted.ensureDeferred
async def test_paths_outside_ocpi_get_ocpi_errors_not_html(bridged):
    base = bridged.cpo.config.public_url
    for method, path, code in (("GET", "/nope", 404), ("POST", "/", 405)):
        response = await treq.request(method, base + path, persistent=False)
        body = json.loads(await response.content())  # was Klein's HTML error page
        assert (response.code, body["status_code"]) == (code, 2000)


@pytest_twisted.ensureDeferred
async def test_version_details_list_only_enabled_modules(bridged):
    net = bridged
    response = await treq.get(net.msp.config.public_url + "/ocpi/2.2",
                              headers={"Authorization": f"Token {net.msp.state.token_b}"}, persistent=False)
    data = json.loads(await response.content())["data"]
    got = {(e["identifier"], e["role"]) for e in data["endpoints"]}
    assert got == {("credentials", "RECEIVER"), ("locations", "RECEIVER"), ("sessions", "RECEIVER"),
                   ("cdrs", "RECEIVER"), ("tariffs", "RECEIVER"), ("tokens", "SENDER"), ("commands", "SENDER"),
                   ("chargingprofiles", "SENDER")}
    # a module that is not enabled is not served
    response = await treq.get(net.msp.config.public_url + "/ocpi/sender/2.2/locations",
                              headers={"Authorization": f"Token {net.msp.state.token_b}"}, persistent=False)
    assert response.code == 404


@pytest_twisted.ensureDeferred
async def test_signatures_are_required_and_checked(bridged_signed):
    net = bridged_signed
    url = f"{net.cpo.config.public_url}/ocpi/sender/2.2/locations/LOC1"
    token_b = net.cpo.state.token_b
    # missing
    response = await treq.get(url, headers=_headers(net, token_b), persistent=False)
    body = json.loads(await response.content())
    assert response.code == 400 and body["status_message"] == "Missing required OCN-Signature header"
    # signed by the MSP key: accepted, and the answer is signed by the CPO key
    h = _headers(net, token_b)
    h["OCN-Signature"] = notary.serialize(notary.sign(notary.request_values(h), MSP_KEY))
    response = await treq.get(url, headers=h, persistent=False)
    env = rawjson.loads(await response.content())
    assert env["status_code"] == 1000
    sig = notary.deserialize(env["ocn_signature"])
    assert sig.signatory == net.cpo.address
    assert notary.verify(sig, notary.response_values({}, env))
    # tampered headers
    h2 = dict(h, **{"X-Correlation-ID": "other"})
    response = await treq.get(url, headers=h2, persistent=False)
    body = json.loads(await response.content())
    assert response.code == 400 and body["status_message"] == "Invalid OCN-Signature: Request has been modified"
    # valid signature by a key that is neither the MSP nor its node
    h3 = _headers(net, token_b)
    h3["OCN-Signature"] = notary.serialize(notary.sign(notary.request_values(h3), "0x" + "77" * 32))
    response = await treq.get(url, headers=h3, persistent=False)
    body = json.loads(await response.content())
    assert response.code == 400 and "is neither NL/MSB nor its node" in body["status_message"]


@pytest_twisted.ensureDeferred
async def test_client_checks_reply_signatory(bridged_signed):
    net = bridged_signed

    async def nobody(party):
        return {"0x" + "00" * 20}

    net.msp.client.allowed_signers = nobody
    with pytest.raises(SignatureError):
        await net.msp.get_location(CPO, "LOC1")


@pytest_twisted.ensureDeferred
async def test_restart_does_not_repeat_handshake(bridged, tmp_path):
    net = bridged
    config = net.cpo.config
    await net.cpo.stopService()
    net.bridges.remove(net.cpo)
    from twisted.internet import reactor

    again = Bridge(_without_token_a(config), net.cpo_bo, reactor=reactor, registry=registry_for(net))
    again.startService()
    await again.ready
    net.bridges.append(again)
    assert again.handshakes == 0 and again.state.token_c == net.cpo.state.token_c
    await again.push_location(MSP, net.cpo_bo.locations.items[1])
    assert net.msp_bo.named("locations.on_update")[-1][2] == "LOC2"


def _without_token_a(config):
    import attrs

    return attrs.evolve(config, token_a="")


def test_missing_implementation_names_the_module():
    import attrs

    from ocnd.bridge import BridgeConfig

    bo = RecordingCpo("DE", "CPB")
    del bo.tariffs
    config = BridgeConfig(node_url="http://127.0.0.1:1", public_url="http://127.0.0.1:2", country_code="DE",
                          party_id="CPB", party_key=CPO_KEY, roles=("CPO",))
    with pytest.raises(MissingImplementation, match="tariffs SENDER"):
        Bridge(config, bo)

    class NoStop:
        def start_session(self, request, sender):
            return None

    bo2 = RecordingCpo("DE", "CPB")
    bo2.commands = NoStop()
    with pytest.raises(MissingImplementation, match=r"commands RECEIVER: backoffice.commands lacks stop_session"):
        Bridge(config, bo2)
    # a custom module list only needs what it names
    Bridge(attrs.evolve(config, modules=(("locations", "SENDER"),)), bo)
