"""Regenerate etc/ocnd.ini from the defaults in ocnd/config.py (run after adding a key)."""

import os
import textwrap

from ocnd.config import SCHEMA

HEADER = """\
; ocnd configuration.  Every key is shown commented out with its built-in
; default; uncomment what you change.  Several files can be layered with
; repeated --config options (later files win), and any key can be overridden
; by an environment variable OCND_<SECTION>_<KEY>, e.g. OCND_NODE_PUBLIC_URL.
; Relative paths are resolved against [node] data_dir.
; `twistd ocnd --help-config` prints this list from the code.
"""


def render() -> str:
    out = [HEADER]
    for section, keys in SCHEMA.items():
        out.append(f"[{section}]")
        for key, (default, _conv, help_text) in keys.items():
            out.extend(f"; {line}" for line in textwrap.wrap(help_text, 76))
            out.append(f";{key} = {default}")
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


if __name__ == "__main__":
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "etc", "ocnd.ini")
    with open(path, "w") as fh:
        fh.write(render())
