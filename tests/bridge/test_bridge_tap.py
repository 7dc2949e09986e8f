"""twistd ocn-bridge options, config file and plugin."""

from __future__ import annotations

import pytest
from twisted.python import usage

from ocnd.bridge import tap
from ocnd.bridge.config import load, parse_modules


def test_options_build_a_bridge(tmp_path, monkeypatch):
    ini = tmp_path / "b.ini"
    ini.write_text("[bridge]\ncountry_code = nl\nparty_id = msp\nroles = EMSP\nsignatures = true\n"
                   f"db_path = {tmp_path / 'x.sqlite'}\n[keys]\nparty_key = {'ab' * 32}\n[registry]\nmode = none\n")
    for k in [k for k in __import__("os").environ if k.startswith("OCN_BRIDGE_")]:
        monkeypatch.delenv(k)
    opts = tap.Options()
    opts.parseOptions(["--config", str(ini), "--backoffice", "ocnd.bridge.examples:msp", "--no-register"])
    assert opts.config.party == ("NL", "MSP") and opts.config.signatures and not opts.config.register
    service = tap.makeService(opts)
    assert service.config.enabled_modules[0] == ("locations", "RECEIVER")
    assert "party_key" not in repr(opts.config) and "ab" * 32 not in repr(opts.config)
    with pytest.raises(usage.UsageError, match="module:factory"):
        tap.Options().parseOptions(["--config", str(ini), "--backoffice", "nocolon"])


def test_shipped_ini_parses_and_documents_every_key():
    from ocnd.bridge.config import SCHEMA

    text = open("etc/ocn-bridge.ini").read()
    for section, keys in SCHEMA.items():
        assert f"[{section}]" in text
        for key, spec in keys.items():
            assert f";{key} = {spec[0]}" in text
    cfg = load(["etc/ocn-bridge.ini"], {"OCN_BRIDGE_KEYS_PARTY_KEY": "11" * 32, "OCN_BRIDGE_REGISTRY_MODE": "none"})
    assert cfg.node_url == "http://127.0.0.1:8080"


def test_module_syntax():
    assert parse_modules("auto") is None
    assert parse_modules("locations:sender, commands:RECEIVER") == (("locations", "SENDER"),
                                                                     ("commands", "RECEIVER"))
    assert len(parse_modules("cpo")) == 7
    with pytest.raises(ValueError):
        parse_modules("lite-locations:SENDER")


def test_plugin_is_listed():
    from twisted.application.service import IServiceMaker
    from twisted.plugin import getPlugins

    names = {p.tapname for p in getPlugins(IServiceMaker)}
    assert "ocn-bridge" in names and "ocnd" in names
