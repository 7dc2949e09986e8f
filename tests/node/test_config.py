"""Configuration loading: defaults, layering, env overrides, one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from ocnd.config import SCHEMA, ConfigError, load

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_defaults(tmp_path):
    cfg = load([], {}, cwd=str(tmp_path))
    assert cfg["node"]["public_url"] == "http://127.0.0.1:8080"
    assert cfg["registry"]["mode"] == "embedded"
    assert cfg.data_dir == str(tmp_path / "data")
    assert cfg.path("store", "path") == str(tmp_path / "data" / "ocnd.sqlite")


def test_state_directory_is_default_data_dir(tmp_path):
    cfg = load([], {"STATE_DIRECTORY": str(tmp_path / "state")})
    assert cfg.data_dir == str(tmp_path / "state")


def test_layering_and_env(tmp_path):
    a = write(tmp_path, "a.ini", "[node]\npublic_url = https://a.example/\n[limits]\nrequest_timeout = 5\n")
    b = write(tmp_path, "b.ini", "[limits]\nrequest_timeout = 7.5\n")
    cfg = load([a, b], {})
    assert cfg["node"]["public_url"] == "https://a.example"  # trailing slash normalised
    assert cfg["limits"]["request_timeout"] == 7.5
    cfg = load([a, b], {"OCND_LIMITS_REQUEST_TIMEOUT": "9"})
    assert cfg["limits"]["request_timeout"] == 9.0
    assert cfg.sources[("limits", "request_timeout")] == "OCND_LIMITS_REQUEST_TIMEOUT"


@pytest.mark.parametrize("text,section,key,fragment", [
    ("[limits]\nrequest_timeout = abc\n", "limits", "request_timeout", "expected a number"),
    ("[limits]\nmax_body_size = -1\n", "limits", "max_body_size", "positive whole number"),
    ("[node]\npublic_url = ftp://x\n", "node", "public_url", "http(s) URL"),
    ("[node]\ncountry_code = DEU\n", "node", "country_code", "2-letter"),
    ("[node]\nsignatures = maybe\n", "node", "signatures", "boolean"),
    ("[registry]\nmode = ganache\n", "registry", "mode", "one of embedded, jsonrpc"),
    ("[registry]\nmode = jsonrpc\n", "registry", "rpc_url", "required when mode = jsonrpc"),
    ("[registry]\nregistry_address = 0x12\n", "registry", "registry_address", "20-byte hex address"),
    ("[node]\ntypo_key = 1\n", "node", "typo_key", "unknown key"),
    ("[nodes]\npublic_url = http://x\n", "nodes", None, "unknown section"),
])
def test_invalid_values_name_file_section_key(tmp_path, text, section, key, fragment):
    path = write(tmp_path, "bad.ini", text)
    with pytest.raises(ConfigError) as info:
        load([path], {})
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(path + ": [" + section + "]")
    if key:
        assert f"] {key}: " in msg
    assert fragment in msg


def test_unknown_env_key(tmp_path):
    with pytest.raises(ConfigError, match=r"OCND_NODE_NOPE: \[node\] nope: unknown key"):
        load([], {"OCND_NODE_NOPE": "1"})


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load([str(tmp_path / "missing.ini")], {})


def test_shipped_ini_documents_every_key_with_its_default():
    text = open(os.path.join(ROOT, "etc", "ocnd.ini")).read()
    for section, keys in SCHEMA.items():
        assert f"[{section}]" in text
        for key, (default, _conv, _help) in keys.items():
            assert re.search(rf"^;{re.escape(key)} = {re.escape(default)}$", text, re.M), (section, key)
    # the examples load without error
    load([os.path.join(ROOT, "etc", "ocnd.ini")], {})
    load([os.path.join(ROOT, "etc", "ocnd.ini"), os.path.join(ROOT, "etc", "ocnd.production.ini")], {})


def test_twistd_exits_with_one_line_on_bad_config(tmp_path):
    bad = write(tmp_path, "bad.ini", "[limits]\nrequest_timeout = soon\n")
    proc = subprocess.run([sys.executable, "-m", "twisted", "ocnd", "--config", bad],
                          capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"ocnd: configuration error: {bad}: [limits] request_timeout: expected a number, got 'soon'")


def test_shipped_ini_is_generated_from_the_code():
    """etc/ocnd.ini is exactly what tools/gen_ini.py renders (run it after adding a key)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_ini", os.path.join(ROOT, "tools", "gen_ini.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert open(os.path.join(ROOT, "etc", "ocnd.ini")).read() == gen.render()


def test_env_variables_outside_the_schema_are_ignored():
    cfg = load([], {"OCND_REQUIRE_CHROMIUM": "1", "OCND_NODE_PUBLIC_URL": "https://x.example"})
    assert cfg["node"]["public_url"] == "https://x.example"


def test_config_option_layers_in_order(tmp_path):
    from ocnd.tap import Options

    a = write(tmp_path, "a.ini", "[limits]\nrequest_timeout = 5\n")
    b = write(tmp_path, "b.ini", "[limits]\nrequest_timeout = 6\n")
    opts = Options()
    opts.parseOptions(["--config", a, "-c", b, "--data-dir", str(tmp_path)])
    assert opts["config"] == [a, b]
    assert opts.config["limits"]["request_timeout"] == 6.0
