"""`dvc exp run -S key=value` rewrites params.yaml with DVC's round-trip YAML dumper (which drops
quotes) and reads it back with the C parser (ruamel.yaml.clib, pinned for DVC's speed): a quoted
"sqlite:///..." inside a flow mapping came back as a plain scalar that libyaml rejects, and every
`dvc exp run -S` failed. Here: the file survives DVC's own rewrite with the same values."""
from __future__ import annotations

import shutil
from pathlib import Path

from dvc.utils.serialize import load_yaml, modify_yaml

ROOT = Path(__file__).resolve().parents[1]


def test_params_yaml_survives_dvc_set_rewrite(tmp_path):
    p = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", p)
    before = load_yaml(str(p))
    with modify_yaml(str(p)) as d:        # what `dvc exp run -S profile=tiny` does to the file
        d["profile"] = "tiny"
    after = load_yaml(str(p))             # raised "YAML file structure is corrupted" before
    assert after["profile"] == "tiny"
    after["profile"] = before["profile"]
    assert after == before
