"""``ocn demo``: a whole local Open Charging Network on loopback, and a charging day.

Processes (all ``twistd -n``, logs in the data directory):

* node A -- ``ocnd`` with the embedded registry chain, served over JSON-RPC;
* node B -- ``ocnd`` in ``jsonrpc`` registry mode on node A's chain, listed as
  an operator with ``ocn registry set-node --raw``;
* a mock CPO (``ocn-mock-cpo``) on node A and a mock eMSP (``ocn-mock-msp``)
  on node B; each lists itself in the registry, fetches a Token A from its
  node's admin API and does the credentials handshake.

The demo then drives the parties through their loopback control APIs and
prints every step: locations pulled across the nodes, tariffs pushed, a
START_SESSION with its async result, session updates with growing kWh, a
STOP_SESSION, the CDR delivered to the eMSP and read back by the CPO through
the node-proxied ``Location``.  Without ``--once`` the network then keeps
running (the eMSP starts sessions by itself and the chargers change status)
and the demo prints what happens until Ctrl-C.

Ports (``--base-port`` P): node A P, node B P+1, chain JSON-RPC P+2, CPO P+3,
eMSP P+4, control APIs P+5 (CPO) and P+6 (eMSP).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any, Callable

from .procs import Child, HttpError, http_json, wait_until

REGISTRY = "0x345cA3e014Aaf5dcA488057592ee47305D9B3e10"
PERMISSIONS = "0xf25186B5081Ff5cE73482AD761DB0eB0d25abfBF"
CHAIN_ID = 9
# the funded account 0 of the public development mnemonic ("candy maple cake ..."); it pays the
# raw registry transactions of node B and of the mock parties.  Never use it outside a dev chain.
DEV_SPENDER_KEY = "0xc87509a1c067bbde78beb793e6fa76530b6382a4c0241e5e4a9ec0a0f44dc0d3"


class StepFailed(Exception):
    pass


class _Stop(BaseException):
    """SIGTERM/SIGHUP: leave the run loop and tear down."""


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _short(address: str | None) -> str:
    return f"{address[:8]}...{address[-4:]}" if address and len(address) > 14 else str(address)


class Demo:
    def __init__(self, *, base_port: int = 8080, data_dir: str | None = None, signatures: bool = True,
                 keep: bool = False, out=None, tick: float = 1.0, time_scale: float = 120.0,
                 step_timeout: float = 30.0, color: bool = False) -> None:
        self.base_port = base_port
        self.ports = {name: base_port + i for i, name in
                      enumerate(("node_a", "node_b", "rpc", "cpo", "msp", "cpo_control", "msp_control"))}
        self.own_dir = data_dir is None
        self.data_dir = os.path.abspath(data_dir) if data_dir else tempfile.mkdtemp(prefix="ocn-demo-")
        self.keep = keep
        self.signatures = signatures
        self.out = out or sys.stdout
        self.tick = tick
        self.time_scale = time_scale
        self.step_timeout = step_timeout
        self.children: list[Child] = []
        self.n = 0
        self.t0 = time.monotonic()
        self.cpo_party, self.msp_party = "CH/CPO", "CH/MSP"
        self.url = {k: f"http://127.0.0.1:{p}" for k, p in self.ports.items()}
        self.session_id: str | None = None
        self.cdr_id: str | None = None
        self.msp_seen = 0
        self.cpo_seen = 0

    # -- output ----------------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def detail(self, text: str) -> None:
        self.say(f"        {text}")

    def step(self, title: str, fn: Callable[[], str]) -> Any:
        self.n += 1
        started = time.monotonic()
        self.say(f"[{self.n:2}] {title} ...")
        try:
            summary = fn()
        except (StepFailed, TimeoutError, RuntimeError, HttpError, OSError, subprocess.SubprocessError) as e:
            self.say(f"[{self.n:2}] FAIL  {title}: {e}")
            raise StepFailed(f"step {self.n} ({title}) failed: {e}") from None
        took = time.monotonic() - started
        self.say(f"[{self.n:2}] OK    {summary}  ({took:.1f} s, t+{time.monotonic() - self.t0:.1f} s)")
        return summary

    # -- processes -------------------------------------------------------------------------

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OCND_", "OCN_BRIDGE_"))}
        env.update(extra)
        return env

    def _dir(self, name: str) -> str:
        path = os.path.join(self.data_dir, name)
        os.makedirs(path, exist_ok=True)
        return path

    def _spawn(self, name: str, args: list[str], env: dict[str, str], directory: str) -> Child:
        child = Child(name, args, log_path=os.path.join(directory, f"{name.replace(' ', '-')}.log"), env=env,
                      cwd=directory)
        child.start()
        self.children.append(child)
        return child

    def _node_env(self, name: str, port: int, extra: dict[str, str]) -> dict[str, str]:
        env = {"OCND_NODE_DATA_DIR": self._dir(name), "OCND_NODE_LISTEN": f"tcp:{port}:interface=127.0.0.1",
               "OCND_NODE_PUBLIC_URL": f"http://127.0.0.1:{port}",
               "OCND_NODE_SIGNATURES": "true" if self.signatures else "false",
               "OCND_REGISTRY_POLL_INTERVAL": "1"}
        # every party of the demo lives on 127.0.0.1: let the nodes call loopback party URLs
        # (only set when this ocnd has the setting; embedded mode allows it by default)
        from ..config import SCHEMA

        if "allow_private_party_urls" in SCHEMA.get("security", {}):
            env["OCND_SECURITY_ALLOW_PRIVATE_PARTY_URLS"] = "true"
        env.update(extra)
        return self._env(env)

    def _wait_healthy(self, child: Child, url: str) -> dict:
        def healthy():
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                return r.status == 200

        wait_until(healthy, timeout=self.step_timeout, what=f"{child.name} /health", child=child)
        return wait_until(lambda: http_json("GET", url + "/ocn/registry/node-info", timeout=2),
                          timeout=self.step_timeout, what=f"{child.name} node-info", child=child)

    def start_node_a(self) -> str:
        env = self._node_env("node-a", self.ports["node_a"],
                             {"OCND_REGISTRY_SERVE_RPC": f"tcp:{self.ports['rpc']}:interface=127.0.0.1"})
        child = self._spawn("node A", ["ocnd"], env, self._dir("node-a"))
        info = self._wait_healthy(child, self.url["node_a"])
        self.node_a_address = info.get("address")
        chain = wait_until(lambda: http_json("POST", self.url["rpc"], {"jsonrpc": "2.0", "id": 1,
                                                                         "method": "eth_chainId", "params": []},
                                             timeout=2), timeout=self.step_timeout, what="chain JSON-RPC",
                           child=child)
        return (f"node A at {self.url['node_a']} (operator {_short(self.node_a_address)}), embedded chain "
                f"id {int(chain['result'], 16)} on JSON-RPC {self.url['rpc']}, pid {child.pid}")

    def start_node_b(self) -> str:
        env = self._node_env("node-b", self.ports["node_b"], {
            "OCND_REGISTRY_MODE": "jsonrpc", "OCND_REGISTRY_RPC_URL": self.url["rpc"],
            "OCND_REGISTRY_REGISTRY_ADDRESS": REGISTRY, "OCND_REGISTRY_PERMISSIONS_ADDRESS": PERMISSIONS,
            "OCND_REGISTRY_CHAIN_ID": str(CHAIN_ID)})
        child = self._spawn("node B", ["ocnd"], env, self._dir("node-b"))
        info = self._wait_healthy(child, self.url["node_b"])
        self.node_b_address = info.get("address")
        return (f"node B at {self.url['node_b']} (operator {_short(self.node_b_address)}), registry over "
                f"JSON-RPC on node A's chain, pid {child.pid}")

    def list_node_b(self) -> str:
        spender = os.path.join(self.data_dir, "spender.key")
        with open(os.open(spender, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
            fh.write(DEV_SPENDER_KEY + "\n")
        self.spender_file = spender
        ocn = os.path.join(os.path.dirname(sys.executable), "ocn")
        ocn = ocn if os.path.exists(ocn) else "ocn"
        network = ["--network", self.url["rpc"], "--chain-id", str(CHAIN_ID)]
        # a reused --data-dir: node B may be listed already (the chain journal survives restarts)
        listed = subprocess.run([ocn, "--json", "registry", "get-node", self.node_b_address, *network],
                                capture_output=True, text=True, timeout=self.step_timeout, env=self._env({}))
        if listed.returncode == 0 and self.url["node_b"] in listed.stdout:
            self.detail(f"already listed: {self.node_b_address} -> {self.url['node_b']}")
            return f"node B already listed as operator {_short(self.node_b_address)} -> {self.url['node_b']}"
        cmd = [ocn, "registry", "set-node", self.url["node_b"], *network, "--key-file",
               os.path.join(self.data_dir, "node-b", "node.key"), "--raw", "--spender-key-file", spender]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=self.step_timeout,
                              env=self._env({}))
        if proc.returncode != 0:
            raise StepFailed((proc.stderr or proc.stdout).strip().splitlines()[-1] if (proc.stderr or proc.stdout)
                             else f"exit code {proc.returncode}")
        self.detail("$ ocn registry set-node " + self.url["node_b"] + " --network " + self.url["rpc"] +
                    " --chain-id 9 --key-file node-b/node.key --raw --spender-key-file spender.key")
        self.detail(proc.stdout.strip())
        return f"node B listed as operator {_short(self.node_b_address)} -> {self.url['node_b']}"

    def _start_party(self, tap: str, party: str, node: str, port_name: str, extra: list[str]) -> str:
        cc, pid = party.split("/")
        node_dir = "node-a" if node == "node_a" else "node-b"
        directory = self._dir(port_name)
        args = [tap, "--node", self.url[node], "--country-code", cc, "--party-id", pid,
                "--key-file", os.path.join(directory, "party.key"),
                "--admin-key-file", os.path.join(self.data_dir, node_dir, "admin.key"),
                "--listen", f"tcp:{self.ports[port_name]}:interface=127.0.0.1",
                "--db", os.path.join(directory, "bridge.sqlite"), "--rpc-url", self.url["rpc"],
                "--chain-id", str(CHAIN_ID), "--spender-key-file", self.spender_file,
                "--control", f"tcp:{self.ports[port_name + '_control']}:interface=127.0.0.1", "--seed", "7"]
        if self.signatures:
            args.append("--signatures")
        child = self._spawn(f"mock {port_name}", args + extra, self._env({}), directory)
        control = self.url[port_name + "_control"]
        status = wait_until(lambda: (lambda s: s if s.get("connected") else None)(
            http_json("GET", control + "/status", timeout=2)), timeout=self.step_timeout,
            what=f"{tap} to connect", child=child)
        events = http_json("GET", control + "/events")["events"]
        for e in events:
            self.detail(e["text"])
        if port_name == "cpo":
            self.cpo_seen = events[-1]["seq"] if events else 0
        else:
            self.msp_seen = events[-1]["seq"] if events else 0
        connected = [e for e in events if e["kind"] == "connected"]
        handshake = ("handshake done" if not connected or connected[-1]["data"].get("handshakes")
                     else "stored Token C still valid")
        return (f"{tap} {party} on {self.url[node]}: listed in the registry, {handshake}, OCPI at "
                f"{status['public_url']}, control {control}, pid {child.pid}")

    def start_cpo(self) -> str:
        return self._start_party("ocn-mock-cpo", self.cpo_party, "node_a", "cpo", [
            "--tick", str(self.tick), "--time-scale", str(self.time_scale), "--status-interval", "6",
            "--push-to", self.msp_party])

    def start_msp(self) -> str:
        return self._start_party("ocn-mock-msp", self.msp_party, "node_b", "msp",
                                 ["--cpo", self.cpo_party, "--session-duration", "20"])

    # -- control helpers -------------------------------------------------------------------

    def msp(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> Any:
        return http_json(method, self.url["msp_control"] + path, body, timeout=timeout)

    def cpo(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> Any:
        return http_json(method, self.url["cpo_control"] + path, body, timeout=timeout)

    def msp_events(self, kinds: tuple[str, ...] | None = None) -> list[dict]:
        out = self.msp("GET", f"/events?since={self.msp_seen}")["events"]
        if out:
            self.msp_seen = out[-1]["seq"]
        return [e for e in out if kinds is None or e["kind"] in kinds]

    # -- the charging day --------------------------------------------------------------------

    def pull_locations(self) -> str:
        started = time.monotonic()

        def pull():
            return self.msp("POST", "/pull-locations", {"cpo": self.cpo_party})

        # the nodes' registry snapshots sync every second; the first pull may come too early
        res = wait_until(pull, timeout=self.step_timeout, interval=0.5, what="the locations pull")
        locations = res["locations"]
        for loc in locations:
            evses = ", ".join(f"{e['uid']} {e.get('status')}" for e in loc.get("evses", []))
            self.detail(f"{loc['id']} '{loc.get('name')}', {loc.get('address')}, {loc.get('city')}: {evses}")
        self.msp_events()
        waited = time.monotonic() - started
        note = f" (after {waited:.1f} s of registry sync)" if waited > 1.5 else ""
        return (f"eMSP {self.msp_party} (node B) pulled {len(locations)} locations with "
                f"{sum(len(x.get('evses', [])) for x in locations)} EVSEs from CPO {self.cpo_party} (node A){note}")

    def push_tariffs(self) -> str:
        ids = self.cpo("POST", "/push-tariffs", {"to": self.msp_party})["tariffs"]
        got = wait_until(lambda: (lambda ev: ev if len(ev) >= len(ids) else None)(
            [e for e in self.msp("GET", "/events")["events"] if e["kind"] == "tariff"]),
            timeout=self.step_timeout, what="the tariffs at the eMSP")
        for e in got[:len(ids)]:
            self.detail(e["text"])
        self.msp_events()
        return f"CPO pushed {len(ids)} tariffs (A -> B); the eMSP stored {len(got)}"

    def start_session(self) -> str:
        tried = []
        for _attempt in range(3):
            status = self.msp("GET", "/status")
            res = self.msp("POST", "/start", {"cpo": self.cpo_party}, timeout=60)
            resp = res.get("response") or {}
            if resp.get("result") == "ACCEPTED":
                break
            tried.append(f"{res.get('location_id')}/{res.get('evse_uid')}: {resp.get('result')} "
                         f"{resp.get('message') or ''}".strip())
            self.detail(f"START_SESSION at {tried[-1]} -- trying another EVSE")
            time.sleep(1.0)
            del status
        else:
            raise StepFailed("START_SESSION was not accepted: " + "; ".join(tried))
        result = (res.get("result") or {}).get("result")
        self.detail(f"command response: {resp.get('result')}, timeout {resp.get('timeout')} s; "
                    f"async result: {result}")
        if result != "ACCEPTED":
            raise StepFailed(f"async result {result}")
        if not res.get("session_id"):
            raise StepFailed("the CPO did not push the new session to the eMSP")
        self.session_id = res["session_id"]
        for e in self.msp_events(("session", "location")):
            self.detail(e["text"])
        return (f"session {self.session_id} ACTIVE at {res.get('location_id')}/{res.get('evse_uid')} "
                f"(START_SESSION B -> A, async result back A -> B)")

    def session_updates(self) -> str:
        kwhs: list[float] = []

        def more():
            for e in self.msp_events(("session", "location")):
                self.detail(e["text"])
                if e["kind"] == "session" and e["data"].get("id") == self.session_id and "kwh" in e["data"]:
                    kwhs.append(float(e["data"]["kwh"]))
            return len([k for k in kwhs if k > 0]) >= 3

        wait_until(more, timeout=self.step_timeout, interval=0.2, what="three session updates")
        if kwhs != sorted(kwhs):
            raise StepFailed(f"kWh did not grow: {kwhs}")
        return (f"{len(kwhs)} session updates pushed A -> B, energy {kwhs[0]} -> {kwhs[-1]} kWh "
                f"({self.time_scale:g}x simulated time)")

    def stop_session(self) -> str:
        res = self.msp("POST", "/stop", {"cpo": self.cpo_party, "session_id": self.session_id}, timeout=60)
        resp, result = res.get("response") or {}, (res.get("result") or {}).get("result")
        self.detail(f"command response: {resp.get('result')}, timeout {resp.get('timeout')} s; "
                    f"async result: {result}")
        if resp.get("result") != "ACCEPTED" or result != "ACCEPTED":
            raise StepFailed(f"STOP_SESSION {resp.get('result')}, async result {result}")
        final: dict = {}

        def completed():
            for e in self.msp_events(("session", "location", "cdr")):
                self.detail(e["text"])
                if e["kind"] == "session" and e["data"].get("status") == "COMPLETED":
                    final.update(e["data"])
                if e["kind"] == "cdr":
                    self.cdr_event = e
            return final

        wait_until(completed, timeout=self.step_timeout, interval=0.2, what="the COMPLETED session")
        return f"session {self.session_id} COMPLETED with {final.get('kwh')} kWh"

    def cdr_delivered(self) -> str:
        def cdr():
            for e in self.msp_events(("cdr", "location")):
                self.detail(e["text"])
                if e["kind"] == "cdr":
                    self.cdr_event = e
            return getattr(self, "cdr_event", None)

        e = wait_until(cdr, timeout=self.step_timeout, interval=0.2, what="the CDR at the eMSP")
        d = e["data"]
        self.cdr_id = d.get("id")
        cost = d.get("total_cost")
        cost = cost.get("excl_vat") if isinstance(cost, dict) else cost
        return (f"CDR {self.cdr_id} POSTed A -> B: {d.get('total_energy')} kWh, {d.get('total_time')} h, "
                f"{cost} {d.get('currency')} excl. VAT")

    def cdr_fetched(self) -> str:
        status = wait_until(lambda: (lambda s: s if self.cdr_id in s.get("cdr_locations", {}) else None)(
            self.cpo("GET", "/status")), timeout=self.step_timeout, what="the CDR Location at the CPO")
        res = self.cpo("POST", "/fetch-cdr", {"cdr_id": self.cdr_id})
        del status
        if not res.get("same"):
            raise StepFailed("the CDR read back differs from the one pushed")
        self.detail(f"Location: {res['location']}")
        return f"CPO read CDR {self.cdr_id} back through the node-proxied Location: identical"

    def check_errors(self) -> str:
        cpo = self.cpo("GET", "/status")
        late = [e for e in cpo.get("errors", []) if "EVSE status to" not in e]
        early = len(cpo.get("errors", [])) - len(late)
        if late:
            raise StepFailed("; ".join(late))
        note = f" ({early} early EVSE status pushes before the eMSP connected)" if early else ""
        return f"no push errors at the CPO{note}; EVSEs now " + ", ".join(
            f"{k} {v}" for k, v in cpo.get("evses", {}).items())

    # -- run ---------------------------------------------------------------------------------

    def check_ports(self) -> None:
        busy = [f"{name} {port}" for name, port in self.ports.items() if not _free(port)]
        if busy:
            raise StepFailed(f"port(s) in use: {', '.join(busy)}; choose another --base-port")

    def run(self, once: bool = False) -> int:
        def on_signal(signum, frame):
            raise _Stop()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
        code = 0
        try:
            self.say(f"ocn demo: a local Open Charging Network on 127.0.0.1 (base port {self.base_port}, "
                     f"signatures {'on' if self.signatures else 'off'})")
            self.say(f"data and logs in {self.data_dir}")
            self.check_ports()
            self.step("start node A (embedded registry chain)", self.start_node_a)
            self.step("start node B (registry over JSON-RPC)", self.start_node_b)
            self.step("list node B in the registry", self.list_node_b)
            # the eMSP first: the CPO pushes EVSE status changes to it as soon as it runs
            self.step("start the mock eMSP on node B", self.start_msp)
            self.step("start the mock CPO on node A", self.start_cpo)
            self.say("-- charging day --")
            self.step("eMSP pulls the CPO's locations", self.pull_locations)
            self.step("CPO pushes its tariffs to the eMSP", self.push_tariffs)
            self.step("eMSP starts a session (START_SESSION)", self.start_session)
            self.step("CPO pushes session updates", self.session_updates)
            self.step("eMSP stops the session (STOP_SESSION)", self.stop_session)
            self.step("CPO delivers the CDR", self.cdr_delivered)
            self.step("CPO fetches the CDR through the proxied Location", self.cdr_fetched)
            self.step("check the parties' push errors", self.check_errors)
            self.say(f"-- charging day done in {time.monotonic() - self.t0:.1f} s: all {self.n} steps passed --")
            if not once:
                self.follow()
        except StepFailed as e:
            self.say(f"ocn demo: FAILED: {e}")
            self.say(f"logs are in {self.data_dir}")
            self.keep = True
            code = 1
        except (KeyboardInterrupt, _Stop):
            self.say("\nocn demo: stopping")
            code = 0 if not once else 130
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.teardown()
        return code

    def follow(self) -> None:
        self.msp("POST", "/auto", {"interval": 15, "duration": 20, "cpo": self.cpo_party})
        self.say("")
        self.say("The network keeps running; press Ctrl-C to stop it.")
        self.say(f"  node A   {self.url['node_a']}   (chain JSON-RPC {self.url['rpc']})")
        self.say(f"  node B   {self.url['node_b']}")
        self.say(f"  CPO {self.cpo_party}  OCPI {self.url['cpo']}  control {self.url['cpo_control']}")
        self.say(f"  eMSP {self.msp_party} OCPI {self.url['msp']}  control {self.url['msp_control']}")
        self.say("  the eMSP starts a 20 s session every 15 s; chargers change status every 6 s")
        self.say("  try: curl -s -X POST " + self.url["msp_control"] + "/pull-locations | python -m json.tool")
        self.say("")
        # start following from now: what happened during the scripted day was printed already
        self.cpo_seen = self.cpo("GET", "/status").get("events", 0)
        self.msp_seen = self.msp("GET", "/status").get("events", 0)
        last_update: dict[str, float] = {}
        while True:
            for name, base, attr in (("CPO ", self.url["cpo_control"], "cpo_seen"),
                                     ("eMSP", self.url["msp_control"], "msp_seen")):
                try:
                    events = http_json("GET", f"{base}/events?since={getattr(self, attr)}", timeout=5)["events"]
                except (HttpError, OSError) as e:
                    self.say(f"  {name} control API unreachable: {e}")
                    events = []
                for e in events:
                    setattr(self, attr, e["seq"])
                    if self._quiet(name, e, last_update):
                        continue
                    self.say(f"  {e['time'][11:19]} {name} {e['text']}")
            for child in self.children:
                if not child.alive():
                    raise StepFailed(f"{child.name} exited with code {child.proc.returncode}")
            time.sleep(0.5)

    @staticmethod
    def _quiet(name: str, e: dict, last_update: dict[str, float]) -> bool:
        """Follow mode shows each exchange once (as the eMSP received it) and
        at most one session update per session every 5 seconds."""
        if name.strip() == "CPO":
            return e["kind"] in ("session pushed", "session patched", "evse status pushed", "cdr pushed")
        if e["kind"] == "session" and e["data"].get("patch") and "status" not in e["data"]:
            sid = str(e["data"].get("id"))
            now = time.monotonic()
            if now - last_update.get(sid, 0.0) < 5.0:
                return True
            last_update[sid] = now
        return False

    def teardown(self) -> None:
        if not self.children:
            return
        started = time.monotonic()
        codes = []
        for child in reversed(self.children):
            rc = child.stop()
            codes.append(f"{child.name} {'stopped' if rc == -signal.SIGTERM else rc}")
        self.children.clear()
        self.say(f"stopped {len(codes)} processes in {time.monotonic() - started:.1f} s ("
                 f"{', '.join(codes)})")
        if self.own_dir and not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        elif self.own_dir:
            self.say(f"kept {self.data_dir}")
