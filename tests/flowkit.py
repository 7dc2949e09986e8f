"""Small helpers shared by the flow tests."""

from __future__ import annotations

import json

import treq

from ocnd.signing import rawjson


def ok_envelope(data=None) -> dict:
    env = {"status_code": 1000}
    if data is not None:
        env["data"] = data
    env["timestamp"] = "2020-01-01T00:00:00Z"
    return env


def answer(party, data=None, headers=None, code=200):
    env = ok_envelope(rawjson.loads(data) if isinstance(data, bytes) else data)
    return code, headers or {}, env


def status(body: bytes) -> int:
    return json.loads(body)["status_code"]


def bodies(party, method=None, suffix=None):
    return [r for r in party.received if (method is None or r.method == method)
            and (suffix is None or r.path.endswith(suffix))]


async def wait_for(predicate, timeout=10.0):
    """Poll ``predicate`` on the reactor until true (for fire-and-forget work)."""
    from twisted.internet import reactor, task

    waited = 0.0
    while not predicate():
        if waited > timeout:
            raise AssertionError("condition not reached in time")
        await task.deferLater(reactor, 0.05, lambda: None)
        waited += 0.05


async def rules_call(party, method, path, body=None):
    """A party's call to its node's OcnRules API; returns (HTTP code, parsed envelope)."""
    kw = {"headers": {"Authorization": f"Token {party.token_c}"}, "persistent": False}
    if body is not None:
        kw["json"] = body
    r = await treq.request(method, party.node.base + "/ocpi/receiver/2.2/ocnrules" + path, **kw)
    return r.code, json.loads(await r.content())
