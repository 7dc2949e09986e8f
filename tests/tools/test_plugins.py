"""The mock parties as twistd plugins: discoverable, --help, option errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from twisted.python import usage


def _twistd(*args, cwd=None):
    exe = os.path.join(os.path.dirname(sys.executable), "twistd")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_twistd_lists_the_mock_plugins():
    out = _twistd("--help").stdout
    assert "ocn-mock-cpo" in out and "ocn-mock-msp" in out


@pytest.mark.parametrize("tap, specific", [("ocn-mock-cpo", ["--status-interval", "--push-to", "--tick"]),
                                           ("ocn-mock-msp", ["--start-interval", "--session-duration", "--cpo"])])
def test_mock_help(tap, specific):
    proc = _twistd(tap, "--help")
    assert proc.returncode == 0, proc.stderr
    for opt in ["--node", "--admin-key-file", "--token-a", "--key-file", "--listen", "--control", *specific]:
        assert opt in proc.stdout


def test_plugins_are_inert():
    from twisted.application.service import IServiceMaker
    from twisted.plugin import getPlugins

    makers = {p.tapname: p for p in getPlugins(IServiceMaker)}
    assert makers["ocn-mock-cpo"].module == "ocnd.tools.cpo_tap"
    assert makers["ocn-mock-msp"].module == "ocnd.tools.msp_tap"


def _clean_env(monkeypatch):
    for k in [k for k in os.environ if k.startswith("OCN_BRIDGE_")]:
        monkeypatch.delenv(k)


def test_cpo_options_build_a_config(tmp_path, monkeypatch):
    from ocnd.tools import cpo_tap

    _clean_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    opts = cpo_tap.Options()
    opts.parseOptions(["--node", "http://127.0.0.1:9000", "--country-code", "de", "--party-id", "abc",
                       "--listen", "tcp:9100:interface=127.0.0.1", "--no-register", "--push-to", "nl/msp",
                       "--status-interval", "0", "--control", "tcp:9101:interface=127.0.0.1"])
    cfg = opts.config
    assert cfg.party == ("DE", "ABC") and cfg.roles == ("CPO",) and not cfg.register
    assert cfg.public_url == "http://127.0.0.1:9100" and cfg.node_url == "http://127.0.0.1:9000"
    assert opts["push-to"] == ["NL/MSP"]
    assert (tmp_path / "ocn-mock-cpo.key").exists()   # created on first use
    service = cpo_tap.makeService(opts)
    assert service.mock.cc == "DE" and service.mock.status_interval == 0


def test_msp_options_errors(tmp_path, monkeypatch):
    from ocnd.tools import msp_tap

    _clean_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(usage.UsageError, match="--cpo"):
        msp_tap.Options().parseOptions(["--start-interval", "5", "--no-register"])
    with pytest.raises(usage.UsageError, match="loopback"):
        msp_tap.Options().parseOptions(["--control", "tcp:9101", "--no-register"])
    with pytest.raises(usage.UsageError, match="--rpc-url"):
        msp_tap.Options().parseOptions([])
    opts = msp_tap.Options()
    opts.parseOptions(["--cpo", "ch/cpo", "--start-interval", "30", "--rpc-url", "http://127.0.0.1:8544"])
    assert opts.config.roles == ("EMSP",) and opts.config.party == ("CH", "MSP")
    assert opts.config.registry_address.lower() == "0x345ca3e014aaf5dca488057592ee47305d9b3e10"
