"""Every setting in the table changes what it says it changes, and nothing a setting feeds is left unread.

A setting that enters the analysis cache key but reaches no code re-analyses every library and changes nothing
(keyframes.same_picture_distance did, until issue 23); these tests fail on such a setting.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from organizer.analysis.video import AnalysisParams
from organizer.config import OPTIONS, Settings, resolve
from organizer.pipeline import ResolvedRun

PACKAGE = Path(__file__).resolve().parent.parent / "organizer"

# What changing each setting changes in the resolved run: the model's feature space (and with it the analysis key),
# the model as loaded (spec), the analysis (key: cached analyses are redone), how an analysis is run (params, not
# the key), the placement rules, the engine. Settings that the run does not carry name the module that reads them.
KEY = {"params", "key"}
EFFECTS: dict[str, set[str] | str] = {
    "clusters": {"rules"}, "naming": {"rules"}, "seed": KEY | {"rules", "spec"},     # spec: random weights' seed
    "sampling.fps": KEY, "sampling.max_frames": KEY, "sampling.min_frames": KEY, "sampling.max_pixels": KEY,
    "sampling.seek_seconds": {"params"}, "sampling.all_frames": {"params"},
    "features.weights": {"spec", "space", "key"}, "features.model": {"spec", "space", "key"},
    "features.labels": {"spec"}, "features.batch_size": {"params"}, "features.threads": {"spec"},
    "features.backend": {"spec"}, "features.precision": {"spec", "space", "key"},
    "features.reuse_below": KEY, "features.cascade": KEY,
    **{k: KEY for k in OPTIONS if k.startswith("keyframes.")},
    "placement.max_distance": {"rules"}, "placement.min_cluster_size": {"rules"}, "placement.reposts": {"rules"},
    "engine.workers": {"engine"}, "engine.video_timeout": {"engine"}, "engine.executor": {"engine"},
    "engine.ray_address": {"engine"}, "engine.model_process": {"engine"},
    "safety.settle_seconds": "pipeline.py", "safety.stable_seconds": "pipeline.py",
    "safety.finished_copies": "pipeline.py", "output.keep_plans": "library.py",
}


def _other_value(key: str, tmp_path: Path):
    option = OPTIONS[key]
    special = {"clusters": "3", "engine.workers": "2", "engine.ray_address": "127.0.0.1:6379",
               "engine.executor": "ray", "engine.model_process": "on", "features.weights": "random",
               "placement.max_distance": "0.5"}
    if key in special:
        return special[key]
    if key in ("features.model", "features.labels"):
        path = tmp_path / ("m.tflite" if key == "features.model" else "labels.txt")
        path.write_bytes(b"a model of our own" if key == "features.model" else b"cat\n")
        return str(path)
    if option.choices:
        return next(c for c in option.choices if c != option.default)
    if option.kind is bool:
        return not option.default
    other = option.max if option.max is not None and option.max != option.default else option.min
    return option.kind(other if other is not None else option.default + 1)


def _parts(run: ResolvedRun) -> dict:
    return {"spec": run.spec, "space": run.spec.space, "params": run.params, "key": run.key, "rules": run.rules,
            "engine": run.engine}


def test_the_table_says_what_every_setting_changes():
    assert set(EFFECTS) == set(OPTIONS)


@pytest.mark.parametrize("key", sorted(OPTIONS))
def test_each_setting_changes_what_it_says(key, tmp_path):
    base = {"features.model": str(tmp_path / "base.tflite")} if key == "features.labels" else {}
    if base:
        Path(base["features.model"]).write_bytes(b"a classifier")
    before = _parts(ResolvedRun.of(resolve(base)))
    after = _parts(ResolvedRun.of(resolve({**base, key: _other_value(key, tmp_path)})))
    changed = {name for name in before if before[name] != after[name]}
    effect = EFFECTS[key]
    if isinstance(effect, str):
        assert changed == set(), f"{key} changes the resolved run ({changed}), but the table says only {effect} reads it"
        attr = key.replace(".", "_")
        assert re.search(rf"\bsettings\.{attr}\b", (PACKAGE / effect).read_text()), f"{effect} never reads {key}"
    else:
        assert changed == effect, f"{key} changes {sorted(changed)}, the table says {sorted(effect)}"


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(AnalysisParams)])
def test_every_analysis_parameter_reaches_code_that_uses_it(field):
    """A parameter is read as an attribute (params.x, self.x) somewhere: its definition and the key (which takes
    every field at once) are not uses."""
    read = {node.attr for path in PACKAGE.rglob("*.py") for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Attribute)}
    assert field in read, f"AnalysisParams.{field} is never read: it changes nothing"


def test_settings_are_the_table():
    assert {f.name for f in dataclasses.fields(Settings)} == {k.replace(".", "_") for k in OPTIONS}
