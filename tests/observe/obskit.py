"""Helpers for the observability tests."""

from __future__ import annotations

import json

from support import call

LOCATION = (b'{"country_code":"DE","party_id":"CPA","id":"LOC1","publish":true,"address":"Street 1",'
            b'"city":"Town","country":"DEU","coordinates":{"latitude":"52.5","longitude":"13.4"},'
            b'"time_zone":"Europe/Berlin","last_updated":"2020-01-01T00:00:00Z"}')


def admin(node) -> dict:
    return {"Authorization": f"Token {node.admin_key}"}


async def push_location(cpo, to, correlation_id: str):
    """A real routed PUT from the CPO to ``to`` (a MockParty); returns (code, headers, body)."""
    url = cpo.node.base + "/ocpi/receiver/2.2/locations/DE/CPA/LOC1"
    return await cpo.send("PUT", url, (to.country_code, to.party_id), body=LOCATION,
                          correlation_id=correlation_id)


async def get_json(url, headers=None):
    code, body, _ = await call("GET", url, headers=headers)
    return code, (json.loads(body) if body[:1] in (b"{", b"[") else body)
