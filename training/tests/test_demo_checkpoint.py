"""The committed demo judge: it validates, judges unseen demo items far above chance, and the golden
fixtures the TypeScript engine is tested against are exactly what this checkpoint produces."""

import json
from pathlib import Path

import numpy as np
import pytest

from r1judge_train.checkpoint.validate import load_checkpoint
from r1judge_train.data.records import read_dataset, write_dataset
from r1judge_train.eval.accuracy import evaluate
from r1judge_train.export.fixtures import write_fixtures
from r1judge_train.export.ort_model import OnnxJudgeModel

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "models" / "demo"
GOLDEN = REPO / "test" / "fixtures" / "golden"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def checkpoint():
    return load_checkpoint(DEMO)


def test_demo_manifest_records_how_it_was_made(checkpoint):
    provenance = checkpoint.manifest["provenance"]
    assert provenance["made_by"] == "r1judge-train demo"
    assert {"text", "image", "tasks"} <= set(provenance["export_sanity_check"])
    # The images are preprocessed as they were in training.
    preprocessor = json.loads((DEMO / "preprocessor_config.json").read_text())
    assert preprocessor["min_pixels"] == provenance["recipe"]["image_min_pixels"]
    assert sum(entry["bytes"] for entry in checkpoint.manifest["files"].values()) < 20 * 1024 * 1024


def test_demo_judges_unseen_items_above_chance(checkpoint, tmp_path):
    # seed 2 draws items the seed-1 training set never had (comparison problems are partitioned by
    # split, images are fresh renders). Chance is 0.5; on these 120 items the demo scores 0.77 on text
    # and 0.73 on images (colour and compare are perfect; count 0.50, add and sub 0.65 are weak, as on
    # larger held-out sets in training/README.md). Greedy, so the same numbers every run.
    write_dataset(tmp_path, {"train": 2, "val": 2, "test": 120}, seed=2)
    items = read_dataset(tmp_path / "test.jsonl")
    report = evaluate(OnnxJudgeModel(checkpoint), items, tmp_path, k=1, temperature=1.0, progress=False)
    summary = report.summary()
    print(json.dumps(summary))
    assert summary["text"]["items"] == summary["image"]["items"] == 60
    tasks = summary["tasks"]
    assert set(tasks) == {"add", "sub", "compare", "colour", "shape", "count"}
    assert sum(task["items"] for task in tasks.values()) == 120
    assert summary["text"]["greedy_accuracy"] >= 0.75, summary["text"]
    assert summary["image"]["greedy_accuracy"] >= 0.6, summary["image"]


def _assert_same(actual, expected, path=""):
    if isinstance(expected, float):
        assert actual == pytest.approx(expected, abs=1e-4), path
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys(), path
        for key in expected:
            _assert_same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same(a, e, f"{path}[{i}]")
    else:
        assert actual == expected, path


def test_golden_fixtures_are_current(tmp_path):
    write_fixtures(DEMO, tmp_path)
    for name in ("tokenizer.json", "images.json", "prompts.json"):
        _assert_same(json.loads((tmp_path / name).read_text()), json.loads((GOLDEN / name).read_text()), name)
    for case in json.loads((GOLDEN / "images.json").read_text())["cases"]:
        fresh = np.fromfile(tmp_path / case["pixel_values"], dtype="<f4")
        committed = np.fromfile(GOLDEN / case["pixel_values"], dtype="<f4")
        np.testing.assert_allclose(fresh, committed, atol=1e-6, err_msg=case["image"])
        assert (tmp_path / case["image"]).read_bytes() == (GOLDEN / case["image"]).read_bytes()
        assert (tmp_path / case["rgb"]).read_bytes() == (GOLDEN / case["rgb"]).read_bytes()
