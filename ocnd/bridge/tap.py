"""``twistd ocn-bridge``: options and makeService."""

from __future__ import annotations

import importlib
import os
import sys

from twisted.python import usage

from ..config import ConfigError, LayeredConfigOptions
from .config import describe, load


class Options(LayeredConfigOptions, usage.Options):
    synopsis = "[--config FILE]... --backoffice module:factory [options]"
    longdesc = (
        "Connect one OCPI party (CPO or eMSP backoffice) to an Open Charging Network node: registry "
        "listing, credentials handshake, the party's OCPI endpoints and OCN signatures.  Settings come "
        "from INI files (--config, repeatable, later files win) and OCN_BRIDGE_<SECTION>_<KEY> environment "
        "variables.  --backoffice names a callable factory(config) returning the backoffice object, e.g. "
        "ocnd.bridge.examples:cpo.  Use --help-config to list every key with its default."
    )
    optParameters = [
        ["backoffice", "b", None, "module:factory returning the backoffice (called with the BridgeConfig)."],
    ]
    optFlags = [
        ["help-config", None, "Print every configuration key with its default, then exit."],
        ["register", None, "Check/create the registry listing at start (overrides [registry] register)."],
        ["no-register", None, "Skip the registry listing at start."],
    ]


    def postOptions(self) -> None:
        if self["help-config"]:
            print(describe())
            sys.exit(0)
        environ = dict(os.environ)
        if self["register"] and self["no-register"]:
            raise usage.UsageError("--register and --no-register exclude each other")
        if self["register"]:
            environ["OCN_BRIDGE_REGISTRY_REGISTER"] = "true"
        if self["no-register"]:
            environ["OCN_BRIDGE_REGISTRY_REGISTER"] = "false"
        try:
            self.config = load(self["config"], environ)
        except ConfigError as e:
            _fail(f"configuration error: {e}")
        if not self["backoffice"]:
            raise usage.UsageError("--backoffice module:factory is required")
        self.factory = load_factory(self["backoffice"])


def load_factory(spec: str):
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise usage.UsageError(f"--backoffice expects module:factory, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise usage.UsageError(f"--backoffice: cannot import {module_name}: {e}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise usage.UsageError(f"--backoffice: {module_name} has no callable {attr}")
    return factory


def _fail(message: str) -> None:
    print(f"ocn-bridge: {message}", file=sys.stderr)
    sys.exit(2)


def makeService(options: Options, reactor=None):
    from .backoffice import MissingImplementation
    from .service import Bridge

    if reactor is None:
        from twisted.internet import reactor as _reactor

        reactor = _reactor
    backoffice = options.factory(options.config)
    try:
        return Bridge(options.config, backoffice, reactor=reactor)
    except MissingImplementation as e:
        _fail(f"backoffice: {e}")
