"""Flow: the MSP pushes tokens to the CPO; the CPO asks real-time authorization across nodes."""

from __future__ import annotations

import pytest_twisted

from support import example

from flowkit import answer, bodies, status
from ocnd.signing import rawjson

TOKEN = example("token_example_2_full_rfid.json")


def msp_token() -> bytes:
    obj = rawjson.loads(TOKEN)
    obj["country_code"], obj["party_id"] = "NL", "MSP"
    return rawjson.dumps(obj).encode()


@pytest_twisted.ensureDeferred
async def test_tokens(network):
    cpo, msp = network.cpo, network.msp
    token = msp_token()
    uid = rawjson.loads(token)["uid"]
    code, _, body = await msp.send("PUT", msp.node.base + f"/ocpi/receiver/2.2/tokens/NL/MSP/{uid}", ("DE", "CPA"),
                                   body=token)
    assert status(body) == 1000, body
    pushed = bodies(cpo, "PUT", f"/tokens/NL/MSP/{uid}")
    assert pushed[0].body == token
    assert pushed[0].query == {"type": ["RFID"]}  # default type added, as v1 does
    patch = b'{"valid":false,"last_updated":"2019-06-19T12:00:00Z"}'
    code, _, body = await msp.send("PATCH", msp.node.base + f"/ocpi/receiver/2.2/tokens/NL/MSP/{uid}",
                                   ("DE", "CPA"), body=patch, params={"type": "RFID"})
    assert status(body) == 1000 and bodies(cpo, "PATCH")[0].body == patch
    # real-time authorization: CPO -> MSP
    msp.handler = lambda r: answer(msp, {"allowed": "ALLOWED", "token": rawjson.loads(token),
                                         "authorization_reference": "REF1"}) \
        if r.path.endswith("/authorize") else None
    location_refs = b'{"location_id":"LOC1","evse_uids":["E1"]}'
    code, _, body = await cpo.send("POST", cpo.node.base + f"/ocpi/sender/2.2/tokens/{uid}/authorize",
                                   ("NL", "MSP"), body=location_refs)
    env = rawjson.loads(body)
    assert env["status_code"] == 1000 and env["data"]["allowed"] == "ALLOWED"
    asked = bodies(msp, "POST", f"/tokens/{uid}/authorize")
    assert asked[0].body == location_refs and asked[0].query == {"type": ["RFID"]}
    assert asked[0].path == f"/ocpi/2.2/sender/tokens/{uid}/authorize"
