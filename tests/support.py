"""Helpers shared by tests (importable because pytest puts tests/ on sys.path)."""

from __future__ import annotations

import treq

from ocnd.config import load

NODE_KEY = "0x" + "42" * 32
ADMIN_KEY = "admin-key-for-tests-0123456789"
PUBLIC_URL = "http://node.test:8080"


def make_config(tmp_path, **env):
    environ = {
        "OCND_NODE_DATA_DIR": str(tmp_path),
        "OCND_NODE_PUBLIC_URL": PUBLIC_URL,
        "OCND_NODE_LISTEN": "tcp:0:interface=127.0.0.1",
    }
    environ.update(env)
    return load([], environ)


async def call(method, url, *, headers=None, json_body=None, data=None):
    """One request over loopback with a fresh connection; returns (code, body bytes, response)."""
    kw = {"headers": headers or {}, "persistent": False}
    if json_body is not None:
        kw["json"] = json_body
    if data is not None:
        kw["data"] = data
    response = await treq.request(method, url, **kw)
    body = await response.content()
    return response.code, body, response


EXAMPLES_DIR = __import__("os").path.join(__import__("os").path.dirname(__file__), "data", "ocpi-2.2.1-examples")


def example(name: str) -> bytes:
    """Raw bytes of an official OCPI 2.2.1 example message (tests/data/ocpi-2.2.1-examples)."""
    with open(__import__("os").path.join(EXAMPLES_DIR, name), "rb") as fh:
        return fh.read()
