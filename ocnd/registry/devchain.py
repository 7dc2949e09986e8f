"""Run the embedded dev chain with a JSON-RPC endpoint, for tests and local work.

    python -m ocnd.registry.devchain --journal PATH --listen tcp:8544:interface=127.0.0.1

Prints ``listening on HOST:PORT`` (one line, flushed) when ready; with
``tcp:0`` the kernel picks the port.  Stops cleanly on SIGINT/SIGTERM.

The JSON-RPC server is ``ocnd.registry.rpcserver.rpc_service`` when that
module is available; otherwise a minimal built-in one is used that forwards
every method to the chain's web3 provider and sends raw transactions through
``EmbeddedChain.send_raw_transaction`` (so they are journaled).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from twisted.logger import Logger
from twisted.web import resource, server

from ..web import TrackingSite

log = Logger()


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, (bytes, bytearray)):
        return "0x" + bytes(obj).hex()
    if isinstance(obj, Mapping):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


class _MiniRpc(resource.Resource):
    """Just enough Ethereum JSON-RPC over HTTP POST for web3.py clients."""

    isLeaf = True

    def __init__(self, chain: Any) -> None:
        super().__init__()
        self.chain = chain

    def render_POST(self, request):
        try:
            body = json.loads(request.content.read() or b"null")
        except ValueError:
            return self._send(request, {"jsonrpc": "2.0", "id": None,
                                        "error": {"code": -32700, "message": "parse error"}})
        if isinstance(body, list):
            from twisted.internet import defer

            d = defer.gatherResults([self._one(b) for b in body])
        else:
            d = self._one(body)
        d.addCallback(lambda out: self._send(request, out))
        d.addErrback(lambda f: (log.failure("JSON-RPC reply failed", f), self._send(
            request, {"jsonrpc": "2.0", "id": None, "error": {"code": -32603, "message": "internal error"}})))
        return server.NOT_DONE_YET

    def _one(self, msg):
        from twisted.internet import defer

        rid = msg.get("id") if isinstance(msg, dict) else None
        method = msg.get("method") if isinstance(msg, dict) else None
        params = (msg.get("params") or []) if isinstance(msg, dict) else []
        if not isinstance(method, str):
            return defer.succeed({"jsonrpc": "2.0", "id": rid,
                                  "error": {"code": -32600, "message": "invalid request"}})
        if method == "eth_sendRawTransaction":
            raw = bytes.fromhex(params[0][2:] if params[0].startswith("0x") else params[0])
            d = self.chain.send_raw_transaction(raw)
            d.addCallback(lambda h: {"jsonrpc": "2.0", "id": rid, "result": "0x" + bytes(h).hex()})
        else:
            d = self.chain.run(lambda w3: w3.manager._make_request(method, params))
            d.addCallback(lambda resp: {"jsonrpc": "2.0", "id": rid,
                                        **({"error": resp["error"]} if "error" in resp
                                           else {"result": _jsonable(resp.get("result"))})})
        d.addErrback(lambda f: {"jsonrpc": "2.0", "id": rid, "error": _error(f.value)})
        return d

    @staticmethod
    def _send(request, payload):
        data = json.dumps(payload).encode()
        request.setHeader(b"content-type", b"application/json")
        if not request.finished and not getattr(request, "_disconnected", False):
            request.write(data)
            request.finish()
        return data


def _error(exc: BaseException) -> dict:
    from ocnd.registry.chain import encode_revert_reason

    text = " ".join(str(exc).split())
    reason = getattr(exc, "reason", None)
    if "execution reverted" in text or type(exc).__name__ in ("TransactionFailed", "TransactionReverted"):
        if reason is None:
            reason = text.split("execution reverted:", 1)[1].strip() if "execution reverted:" in text else None
        data = "0x" + (encode_revert_reason(reason).hex() if reason else "")
        return {"code": 3, "message": f"execution reverted: {reason}" if reason else "execution reverted",
                "data": data}
    return {"code": -32000, "message": text or type(exc).__name__}


class _TrackingSite(TrackingSite):
    def drop_connections(self, abort: bool = True) -> None:  # an outage: reset, don't flush
        super().drop_connections(abort=abort)


def make_rpc_service(reactor: Any, chain: Any, endpoint: str, builtin: bool = False):
    """A twisted Service serving JSON-RPC for ``chain`` on ``endpoint``.

    With ``builtin`` (or when ``ocnd.registry.rpcserver`` is absent) the
    minimal server here is used; its service has a ``site`` attribute whose
    ``drop_connections()`` simulates an RPC outage for kept-alive clients.
    """
    rpc_service = None
    if not builtin:
        try:
            from ocnd.registry.rpcserver import rpc_service
        except ImportError:
            rpc_service = None
    if rpc_service is not None:
        return rpc_service(reactor, chain, endpoint)
    from twisted.application.strports import service as strports_service

    site = _TrackingSite(_MiniRpc(chain))
    site.displayTracebacks = False
    svc = strports_service(endpoint, site, reactor=reactor)
    svc.site = site
    return svc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ocnd.registry.devchain", description=__doc__.split("\n")[0])
    ap.add_argument("--journal", default=None, help="SQLite transaction journal (omit: in memory)")
    ap.add_argument("--listen", default="tcp:8544:interface=127.0.0.1")
    ap.add_argument("--chain-id", type=int, default=9)
    args = ap.parse_args(argv)

    from twisted.internet import defer, reactor, task

    from ocnd.registry.chain import EmbeddedChain

    async def run(reactor):
        chain = EmbeddedChain(reactor, args.journal, chain_id=args.chain_id)
        await chain.start()
        svc = make_rpc_service(reactor, chain, args.listen)
        svc.startService()
        port = getattr(svc, "_waitingForPort", None)
        listening = (await port) if port is not None else getattr(svc, "port", None)
        host = listening.getHost() if listening is not None else None
        print(f"listening on {host.host}:{host.port}" if host else "listening", flush=True)

        async def cleanup():
            await defer.maybeDeferred(svc.stopService)
            await chain.stop()

        reactor.addSystemEventTrigger("before", "shutdown", lambda: defer.ensureDeferred(cleanup()))
        await defer.Deferred()  # until SIGINT/SIGTERM stops the reactor

    task.react(lambda r: defer.ensureDeferred(run(r)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
