"""A checkpoint's provenance is shipped and served (`GET /models`): it holds no absolute path of the
machine that built it, and the onnxruntime check is named for what it is, apart from the served accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from r1judge_train.checkpoint.manifest import build_manifest
from r1judge_train.export.checkpoint import export_checkpoint
from r1judge_train.models.interpolate import RECORD, interpolate_models
from r1judge_train.paths import absolute_paths, relative_path

DEMO_MANIFEST = Path(__file__).resolve().parents[2] / "models" / "demo" / "r1judge.json"


def test_relative_path_is_posix_and_relative_wherever_the_paths_are(tmp_path: Path) -> None:
    work = tmp_path / "runs" / "demo"
    assert relative_path(work / "hf", work) == "hf"
    assert relative_path(tmp_path / "runs" / "rl" / "final", work) == "../rl/final"
    assert relative_path(Path("."), Path.cwd()) == "."


def test_the_interpolation_record_holds_paths_relative_to_its_directory(tmp_path: Path) -> None:
    for name, value in (("sft", 0.0), ("rl", 1.0)):
        (tmp_path / name).mkdir()
        save_file({"w": torch.full((2,), value)}, tmp_path / name / "model.safetensors")
        (tmp_path / name / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    out = interpolate_models(tmp_path / "sft", tmp_path / "rl", 0.5, tmp_path / "merged")
    record = json.loads((out / RECORD).read_text())
    assert record == {"base": "../sft", "tuned": "../rl", "alpha": 0.5}
    assert (out / record["base"]).resolve() == (tmp_path / "sft").resolve()


def test_the_demo_manifest_names_no_absolute_path_and_labels_its_accuracies() -> None:
    provenance = json.loads(DEMO_MANIFEST.read_text())["provenance"]
    assert absolute_paths(provenance) == []
    # The onnxruntime loop's numbers are an export check, not the judge's accuracy as served.
    assert "evaluation" not in provenance
    check = provenance["export_sanity_check"]
    assert "onnxruntime" in check["description"] and "/judge" in check["description"]
    served = provenance["served_evaluation"]
    assert served["procedure"].startswith("r1judge eval")
    assert {"items", "k", "greedy_accuracy", "voting_accuracy"} <= set(served)
    assert 0.5 < served["greedy_accuracy"] <= 1 and 0.5 < served["voting_accuracy"] <= 1


def test_absolute_paths_are_found() -> None:
    found = absolute_paths({"a": {"b": ["x", "/work/main/runs"]}, "c": "C:\\runs", "d": "runs/x"})
    assert found == [("a.b[1]", "/work/main/runs"), ("c", "C:\\runs")]


def test_a_manifest_with_an_absolute_path_in_its_provenance_is_not_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"provenance\.refinement\.base: '/home/me/runs/hf' is an absolute path"):
        build_manifest(tmp_path, "m", None, None, {}, {"refinement": {"base": "/home/me/runs/hf"}})


def test_an_export_with_an_absolute_path_is_refused_before_the_old_checkpoint_is_touched(tmp_path: Path) -> None:
    out = tmp_path / "checkpoint"
    out.mkdir()
    (out / "r1judge.json").write_text("{}")
    with pytest.raises(ValueError, match=r"provenance\.source: '/home/me/runs/final' is an absolute path"):
        export_checkpoint(None, tmp_path, out, "m", {"source": "/home/me/runs/final"})  # type: ignore[arg-type]
    assert (out / "r1judge.json").read_text() == "{}", "the previous checkpoint is left as it was"
