"""`r1judge-train interpolate`: (1 − α)·base + α·tuned, exact at the ends, refusing mismatched models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from r1judge_train.models.interpolate import RECORD, InterpolationError, interpolate_models, interpolate_state


def _model(root: Path, tensors: dict[str, torch.Tensor], model_type: str = "qwen2_5_vl") -> Path:
    root.mkdir(parents=True)
    save_file(tensors, root / "model.safetensors")
    (root / "config.json").write_text(json.dumps({"model_type": model_type, "architectures": ["X"]}))
    return root


def test_alpha_weights_each_model_and_the_ends_are_exact(tmp_path: Path) -> None:
    base = {"w": torch.tensor([1.0, 2.0, 3.0]), "b": torch.tensor([0.1], dtype=torch.float16)}
    tuned = {"w": torch.tensor([3.0, 2.0, -1.0]), "b": torch.tensor([0.3], dtype=torch.float16)}
    half = interpolate_state(base, tuned, 0.5, "base", "tuned")
    assert torch.equal(half["w"], torch.tensor([2.0, 2.0, 1.0]))
    assert half["b"].dtype == torch.float16 and torch.allclose(half["b"].float(), torch.tensor([0.2]), atol=1e-3)
    quarter = interpolate_state(base, tuned, 0.25, "base", "tuned")
    assert torch.equal(quarter["w"], torch.tensor([1.5, 2.0, 2.0]))
    for alpha, expected in ((0.0, base), (1.0, tuned)):
        got = interpolate_state(base, tuned, alpha, "base", "tuned")
        assert all(torch.equal(got[k], expected[k]) for k in expected)


def test_writes_a_loadable_directory_with_its_record(tmp_path: Path) -> None:
    base = _model(tmp_path / "sft", {"w": torch.zeros(2, 2)})
    tuned = _model(tmp_path / "rl", {"w": torch.ones(2, 2)})
    (tuned / "tokenizer.json").write_text("{}")
    pre = tmp_path / "pre.json"
    pre.write_text('{"min_pixels": 3136}')
    out = interpolate_models(base, tuned, 0.3, tmp_path / "out", pre)
    assert torch.allclose(load_file(out / "model.safetensors")["w"], torch.full((2, 2), 0.3))
    assert (out / "tokenizer.json").is_file() and (out / "config.json").is_file()
    assert json.loads((out / "preprocessor_config.json").read_text()) == {"min_pixels": 3136}
    record = json.loads((out / RECORD).read_text())
    assert record["alpha"] == 0.3 and record["base"].endswith("sft") and record["tuned"].endswith("rl")


def test_refuses_what_cannot_be_interpolated_naming_file_and_tensor(tmp_path: Path) -> None:
    base = {"w": torch.zeros(2), "only_base": torch.zeros(1)}
    with pytest.raises(InterpolationError, match=r"base: tensor 'only_base'"):
        interpolate_state(base, {"w": torch.zeros(2)}, 0.5, "base", "tuned")
    with pytest.raises(InterpolationError, match=r"tuned: tensor 'w' is \(3,\)"):
        interpolate_state({"w": torch.zeros(2)}, {"w": torch.zeros(3)}, 0.5, "base", "tuned")
    with pytest.raises(InterpolationError, match="alpha must be in"):
        interpolate_state({"w": torch.zeros(2)}, {"w": torch.zeros(2)}, 1.5, "base", "tuned")
    with pytest.raises(InterpolationError, match="integer tensor 'ids'"):
        interpolate_state({"ids": torch.tensor([1, 2])}, {"ids": torch.tensor([1, 3])}, 0.5, "base", "tuned")
    a = _model(tmp_path / "a", {"w": torch.zeros(2)})
    b = _model(tmp_path / "b", {"w": torch.zeros(2)}, model_type="llama")
    with pytest.raises(InterpolationError, match="model_type"):
        interpolate_models(a, b, 0.5, tmp_path / "out")
    with pytest.raises(InterpolationError, match=r"missing"):
        interpolate_models(a, tmp_path / "nowhere", 0.5, tmp_path / "out")


def test_the_command_writes_the_interpolated_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from r1judge_train.cli import parser

    base = _model(tmp_path / "sft", {"w": torch.zeros(3)})
    tuned = _model(tmp_path / "rl", {"w": torch.full((3,), 4.0)})
    args = parser().parse_args(["interpolate", str(base), str(tuned), str(tmp_path / "out"), "--alpha", "0.25"])
    args.run(args)
    assert torch.equal(load_file(tmp_path / "out" / "model.safetensors")["w"], torch.ones(3))
    assert "-> " in capsys.readouterr().out
