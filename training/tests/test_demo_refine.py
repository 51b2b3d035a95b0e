"""`r1judge-train demo --refine`: the SFT judge of a work directory, interpolated with its RL policy,
ships like the SFT build (a checkpoint that validates, its held-out accuracy and how it was made)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from safetensors.torch import load_file
from transformers import Qwen2_5_VLForConditionalGeneration

from r1judge_train.checkpoint.validate import load_checkpoint
from r1judge_train.data.records import write_dataset
from r1judge_train.demo import DemoRecipe, refine_demo, tokenizer_corpus
from r1judge_train.models.config import build_config
from r1judge_train.paths import absolute_paths
from r1judge_train.tokenizer.qwen import load_tokenizer, save_tokenizer, train_tokenizer

pytestmark = pytest.mark.slow

RECIPE = DemoRecipe(eval_votes=1, variants=("fp32",))


def _random_policy(tok_dir: Path, out: Path, seed: int) -> Path:
    tok = load_tokenizer(tok_dir)
    torch.manual_seed(seed)
    Qwen2_5_VLForConditionalGeneration(build_config(tok.tokenizer.get_vocab_size(), tok.ids)).save_pretrained(out)
    return out


def test_the_refined_judge_ships_with_its_accuracy_and_its_making(tmp_path: Path) -> None:
    work = tmp_path / "work"
    write_dataset(work / "data", {"train": 8, "val": 2, "test": 4}, seed=3)
    tokenizer = train_tokenizer(tokenizer_corpus(work / "data"), vocab_size=400)  # as the demo build trains its own
    save_tokenizer(tokenizer, work / "tokenizer", max_length=2048)
    _random_policy(work / "tokenizer", work / "hf", seed=0)
    tuned = _random_policy(work / "tokenizer", tmp_path / "rl" / "final", seed=1)

    summary = refine_demo(RECIPE, work, tuned, 0.25, tmp_path / "demo", fixtures_dir=None)

    provenance = load_checkpoint(tmp_path / "demo").manifest["provenance"]
    assert provenance["made_by"] == "r1judge-train demo"
    assert provenance["refinement"]["alpha"] == 0.25
    # The models relative to the work directory: a shipped manifest holds no path of this machine.
    assert provenance["refinement"]["base"] == "hf"
    assert provenance["refinement"]["tuned"] == "../rl/final"
    assert absolute_paths(provenance) == []
    assert provenance["export_sanity_check"]["overall"]["items"] == 4 == summary["overall"]["items"]
    # What was exported is the interpolation, not either model: the embedding table is 0.75·SFT + 0.25·RL.
    graph = onnx.load(tmp_path / "demo" / "onnx" / "embed_tokens.onnx").graph
    (exported,) = (numpy_helper.to_array(t) for t in graph.initializer if t.name == "embed.weight")
    base, rl = (load_file(d / "model.safetensors")["model.embed_tokens.weight"].numpy() for d in (work / "hf", tuned))
    np.testing.assert_allclose(exported, 0.75 * base + 0.25 * rl, rtol=0, atol=1e-6)
    assert not np.allclose(base, rl, atol=1e-3)


def test_refining_without_an_sft_build_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"work/hf/model\.safetensors: missing; build the SFT judge first"):
        refine_demo(RECIPE, tmp_path / "work", tmp_path / "rl", 0.5, tmp_path / "demo", fixtures_dir=None)
