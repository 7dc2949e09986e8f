"""The built wheel ships the plugins, schema and artifacts, and nothing that would shadow Twisted."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.timeout(300)
def test_wheel_contents(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "-w", str(tmp_path), ROOT], capture_output=True, text=True)
    if proc.returncode != 0 and "No module named" in proc.stderr:
        pytest.skip("wheel build backend unavailable offline")
    assert proc.returncode == 0, proc.stderr
    names = set(zipfile.ZipFile(glob.glob(str(tmp_path / "*.whl"))[0]).namelist())
    for required in ("twisted/plugins/ocnd_plugin.py", "twisted/plugins/ocn_bridge_plugin.py",
                     "twisted/plugins/ocn_tools_plugin.py", "ocnd/schema/001_initial.sql",
                     "ocnd/registry/artifacts/Registry.json", "ocnd/registry/artifacts/Permissions.json",
                     "ocnd/bridge/schema/001_initial.sql"):
        assert required in names
    for forbidden in ("twisted/__init__.py", "twisted/plugins/__init__.py", "twisted/plugins/dropin.cache"):
        assert forbidden not in names
    assert not any(n.startswith("tests/") for n in names)
