"""Run a real ``twistd -n ocnd`` as a subprocess on loopback, for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NodeProcess:
    """One ocnd process: ``start()``, ``stop()``, ``kill()``; logs in ``log_path``."""

    def __init__(self, data_dir: str, *, port: int | None = None, rpc_port: int | None = None,
                 extra_env: dict | None = None, ini_text: str = "", wrap: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.rpc_port = rpc_port
        self.base = f"http://127.0.0.1:{self.port}"
        self.extra_env = extra_env or {}
        self.wrap = list(wrap or [])  # command prefix, e.g. unshare ... (must exec twistd: pid stays ocnd's)
        os.makedirs(data_dir, exist_ok=True)
        self.ini = os.path.join(data_dir, "test.ini")
        with open(self.ini, "w") as fh:
            fh.write(ini_text)
        self.log_path = os.path.join(data_dir, "ocnd.log")
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict:
        env = dict(os.environ)
        env.update({
            "OCND_NODE_DATA_DIR": self.data_dir,
            "OCND_NODE_LISTEN": f"tcp:{self.port}:interface=127.0.0.1",
            "OCND_NODE_PUBLIC_URL": self.base,
        })
        if self.rpc_port:
            env["OCND_REGISTRY_SERVE_RPC"] = f"tcp:{self.rpc_port}:interface=127.0.0.1"
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60.0, extra_args=()) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [*self.wrap, os.path.join(os.path.dirname(sys.executable), "twistd"), "-n", "--pidfile=", "ocnd",
             "--config", self.ini, *extra_args],
            stdout=log, stderr=subprocess.STDOUT, env=self.env(), cwd=self.data_dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ocnd exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"ocnd did not become healthy:\n{self.log()}")

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""

    def admin_key(self) -> str:
        with open(os.path.join(self.data_dir, "admin.key")) as fh:
            return fh.read().strip()


def list_party_on_chain(rpc_url: str, operator: str, cc: str, pid: str, party_key: str, role: str = "CPO") -> None:
    """List a party with ``operator`` as its node: setPartyRaw signed by the party key, paid by dev
    account 0 (blocking: call it in a thread)."""
    from web3 import Web3

    from ocnd.registry.chain import derive_dev_accounts
    from ocnd.registry.client import SyncRegistry
    from ocnd.registry.model import Role
    from ocnd.registry.service import LOCAL_PERMISSIONS, LOCAL_REGISTRY

    w3 = Web3(Web3.HTTPProvider(rpc_url))
    reg = SyncRegistry(w3, LOCAL_REGISTRY, LOCAL_PERMISSIONS)
    spender = derive_dev_accounts(1)[0][1]
    reg.transact(reg.call_set_party_raw(party_key, cc, pid, [int(Role[role])], operator), spender)
