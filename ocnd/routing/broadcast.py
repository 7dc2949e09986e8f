"""Broadcast push: one update from a party to every party implementing the receiver module.

A party addresses a receiver-interface push (e.g. ``PUT .../tariffs/{cc}/{pid}/{id}``)
to the hub identity of its node (``OCPI-to`` = the node's country_code/party_id,
``CH``/``OCN`` by default).  The request goes through the normal sender checks
(Token C, sender role, ownership, signature).  The node then delivers it to
every connected party that has the module's RECEIVER endpoint and whose
OcnRules allow the sender, and sends it once to every other node in the
registry, which does the same for its parties.  The answer is 1000 with one
result per recipient: ``{"country_code", "party_id", "node", "http_status",
"status_code"}``.  When the request is signed, the node stashes the OCPI-to
headers and re-signs for each recipient (as v1 does for service copies).
"""

from __future__ import annotations

import copy
import sqlite3
from typing import Any

from .. import ocpi, platforms, rules
from ..ocpi import OcpiError
from ..signing import notary, rawjson
from .message import OcpiRequest
from .paths import OWNED_RECEIVER_MODULES

DEFAULT_HUB = ("CH", "OCN")


def local_recipients(conn: sqlite3.Connection, module: str, sender: tuple[str, str],
                     exclude_platform: int | None, v1_blacklist: bool = False):
    """(platform, endpoint url, (cc, pid)) of connected parties implementing module RECEIVER."""
    out = []
    for row in conn.execute(
            "SELECT p.id, e.url FROM platforms p JOIN endpoints e ON e.platform_id = p.id "
            "WHERE p.status = 'CONNECTED' AND lower(e.identifier) = lower(?) AND e.role = 'RECEIVER' "
            "ORDER BY p.id", (module,)):
        if row["id"] == exclude_platform:
            continue
        p = platforms.get(conn, row["id"])
        if p is None or not p.roles:
            continue
        if not rules.load_rules(conn, p.id).allows(sender[0], sender[1], module, v1_blacklist=v1_blacklist):
            continue
        out.append((p, row["url"], (p.roles[0].country_code, p.roles[0].party_id)))
    return out


class Broadcaster:
    def __init__(self, router, hub_identity: tuple[str, str], v1_blacklist: bool = False) -> None:
        self.router = router
        self.hub_identity = (hub_identity[0].upper(), hub_identity[1].upper())
        self.v1_blacklist = v1_blacklist

    def addressed_to_hub(self, receiver: tuple[str, str]) -> bool:
        r = (receiver[0].upper(), receiver[1].upper())
        return r == self.hub_identity or r == DEFAULT_HUB

    def check(self, req: OcpiRequest) -> None:
        if req.interface != "RECEIVER" or req.custom or req.module not in OWNED_RECEIVER_MODULES \
                or req.method not in ("PUT", "PATCH", "DELETE"):
            raise OcpiError(ocpi.INVALID_PARAMS, "Only receiver-interface pushes of locations, sessions, tariffs "
                                                 "and tokens can be broadcast", 400)

    def _for_recipient(self, req: OcpiRequest, body_json: Any, to: tuple[str, str]) -> OcpiRequest:
        out = copy.copy(req)
        out.receiver = to
        headers = dict(req.routing_headers)
        old_cc, old_pid = headers.get("OCPI-to-country-code"), headers.get("OCPI-to-party-id")
        headers["OCPI-to-country-code"], headers["OCPI-to-party-id"] = to
        out.routing_headers = headers
        if req.signature is not None:
            n = notary.deserialize(req.signature)
            values = self.router._request_values(out, body_json)
            n = notary.rewrite(n, values, {"$['headers']['ocpi-to-country-code']": old_cc,
                                           "$['headers']['ocpi-to-party-id']": old_pid},
                               self.router.node_key, strict=False)
            out.signature = notary.serialize(n)
        return out

    async def fan_out_local(self, req: OcpiRequest, body_json: Any, exclude_platform: int | None) -> list[dict]:
        router = self.router
        targets = await router.store.read(local_recipients, req.module, req.sender, exclude_platform,
                                          self.v1_blacklist)
        results = []
        for platform, url, to in targets:
            copy_req = self._for_recipient(req, body_json, to)
            try:
                reply = await router._deliver_local(copy_req, platform, url)
                status = _status(reply.body)
                http = reply.code
            except OcpiError as e:
                status, http = e.status_code, e.http_status
            results.append({"country_code": to[0], "party_id": to[1], "node": router.public_url,
                            "http_status": http, "status_code": status})
        return results

    async def fan_out(self, req: OcpiRequest, body_json: Any, sender_platform: int) -> list[dict]:
        router = self.router
        results = await self.fan_out_local(req, body_json, sender_platform)
        snapshot = getattr(router.registry, "snapshot", None)
        nodes = snapshot.nodes() if snapshot is not None else []
        for node in nodes:
            if not node.url or node.operator.lower() == router.node_address.lower():
                continue
            try:
                reply = await router._deliver_remote(req, node.url)
                env = rawjson.loads(reply.body)
            except (OcpiError, ValueError) as e:
                code = e.status_code if isinstance(e, OcpiError) else ocpi.SERVER_ERROR
                results.append({"node": node.url, "http_status": 0, "status_code": code})
                continue
            data = env.get("data") if isinstance(env, dict) else None
            if isinstance(data, list) and str(env.get("status_code")) == "1000":
                results.extend(rawjson.to_plain(data))
            else:
                results.append({"node": node.url, "http_status": reply.code,
                                "status_code": _status(reply.body)})
        return results


def _status(body: bytes) -> int | None:
    try:
        value = rawjson.loads(body).get("status_code")
        return int(str(value))
    except Exception:  # noqa: BLE001
        return None
