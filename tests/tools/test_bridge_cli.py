"""``ocn bridge init|check|run --dry-run``."""

from __future__ import annotations

import os

from ocnd.cli import main


def test_init_check_and_run(tmp_path, capsys, monkeypatch):
    for k in [k for k in os.environ if k.startswith("OCN_BRIDGE_")]:
        monkeypatch.delenv(k)
    ini = tmp_path / "msp.ini"
    assert main(["bridge", "init", str(ini), "--role", "emsp", "--party", "nl", "abc", "--port", "3555",
                 "--signatures"]) == 0
    out = capsys.readouterr().out
    assert "new party key" in out and "party address: 0x" in out
    key = tmp_path / "msp.key"
    assert key.exists() and oct(key.stat().st_mode & 0o777) == "0o600"
    assert main(["bridge", "init", str(ini)]) == 2   # exists
    capsys.readouterr()
    assert main(["--json", "bridge", "check", str(ini)]) == 0
    out = capsys.readouterr().out
    assert '"party": "NL/ABC"' in out and '"roles": "EMSP"' in out and "3555" in out
    assert key.read_text().strip()[2:] not in out
    assert main(["bridge", "run", "--config", str(ini), "--backoffice", "emsp", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "ocn-bridge --config" in out and "ocnd.bridge.examples:msp" in out
    assert main(["bridge", "run", "--config", str(ini), "--mock", "emsp", "--dry-run"]) == 0
    assert "ocn-mock-msp --config" in capsys.readouterr().out


def test_mock_parses_an_init_file(tmp_path, monkeypatch):
    from ocnd.tools import cpo_tap

    for k in [k for k in os.environ if k.startswith("OCN_BRIDGE_")]:
        monkeypatch.delenv(k)
    ini = tmp_path / "cpo.ini"
    assert main(["bridge", "init", str(ini), "--party", "DE", "XYZ", "--rpc-url", "http://127.0.0.1:8544"]) == 0
    monkeypatch.chdir(tmp_path)
    opts = cpo_tap.Options()
    opts.parseOptions(["--config", str(ini)])
    assert opts.config.party == ("DE", "XYZ") and opts.config.rpc_url == "http://127.0.0.1:8544"
    assert opts.config.listen == "tcp:3000:interface=127.0.0.1"
    assert not (tmp_path / "ocn-mock-cpo.key").exists()   # the INI names the key file
