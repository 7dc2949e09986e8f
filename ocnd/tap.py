"""``twistd ocnd`` / ``twist ocnd``: command-line options and makeService."""

from __future__ import annotations

import os
import sys

from twisted.python import usage

from . import __version__
from .config import ConfigError, LayeredConfigOptions, describe, load


class Options(LayeredConfigOptions, usage.Options):
    synopsis = "[--config FILE]... [options]"
    longdesc = (
        "Run an Open Charging Network node: an OCPI 2.2/2.2.1 hub that routes messages between "
        "parties connected to it and to other nodes found in the OCN Registry.  Settings come from "
        "INI files (--config, repeatable, later files override earlier ones) and OCND_<SECTION>_<KEY> "
        "environment variables; the options below override both.  With no configuration at all the "
        "node runs on http://127.0.0.1:8080 with an embedded development chain and its data in ./data.  "
        "Use --help-config to list every configuration key with its default."
    )
    optParameters = [
        ["listen", "l", None, "Server endpoint string, overrides [node] listen "
                              "(e.g. tcp:8080:interface=127.0.0.1, systemd:domain=INET:index=0)."],
        ["public-url", "u", None, "Public base URL, overrides [node] public_url."],
        ["data-dir", "d", None, "Data directory, overrides [node] data_dir."],
    ]
    optFlags = [
        ["help-config", None, "Print every configuration section and key with its default, then exit."],
        ["version", None, "Print the ocnd version and exit."],
    ]


    def opt_version(self) -> None:
        print(f"ocnd {__version__}")
        sys.exit(0)

    def postOptions(self) -> None:
        if self["help-config"]:
            print(describe())
            sys.exit(0)
        environ = dict(os.environ)
        for opt, key in (("listen", "OCND_NODE_LISTEN"), ("public-url", "OCND_NODE_PUBLIC_URL"),
                         ("data-dir", "OCND_NODE_DATA_DIR")):
            if self[opt] is not None:
                environ[key] = self[opt]
        try:
            self.config = load(self["config"], environ)
        except ConfigError as e:
            _fail(f"configuration error: {e}")


def _fail(message: str) -> None:
    print(f"ocnd: {message}", file=sys.stderr)
    sys.exit(2)


def makeService(options: Options, reactor=None):
    """Build the service tree; errors before the reactor starts exit at once."""
    if reactor is None:
        from twisted.internet import reactor as _reactor

        reactor = _reactor
    from .keys import KeyError_, load_admin_key, load_node_key
    from .node import NodeService
    from .registry.service import RegistryService
    from .store import Store, StoreError

    config = options.config
    os.makedirs(config.data_dir, exist_ok=True)
    try:
        node_key = load_node_key(config.path("keys", "node_key_file"), config.path("keys", "keystore_file"),
                                 config.path("keys", "keystore_password_file"))
        admin_key = load_admin_key(config.path("admin", "api_key_file"))
    except KeyError_ as e:
        _fail(f"key error: {e}")
    store = Store(config.path("store", "path"), reactor)
    try:
        store.open_sync()
    except StoreError as e:
        _fail(f"store error: {config.path('store', 'path')}: {e}")
    except Exception as e:  # sqlite3.Error, OSError
        _fail(f"store error: {config.path('store', 'path')}: {e}")
    registry = RegistryService(config=config, reactor=reactor, store=store, node_key=node_key)
    return NodeService(config=config, reactor=reactor, store=store, registry=registry,
                       node_key=node_key, admin_key=admin_key)
