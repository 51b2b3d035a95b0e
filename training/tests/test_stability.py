"""The stability experiment's plumbing: the two variants differ only in Pre-CLIP and the filter, and
the plot reads metrics.jsonl as the trainer writes it (inf and NaN as strings)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from r1judge_train.rl_run import RlRun
from r1judge_train.stability import VARIANTS, plot_stability, variant_run


def test_variants_differ_only_in_the_two_switches(tmp_path: Path) -> None:
    run = RlRun(model=tmp_path, data=tmp_path / "d.jsonl", output_dir=tmp_path / "out", trainer={"learning_rate": 0.1})
    stable = variant_run(run, "StableReinforce")
    plain = variant_run(run, "REINFORCE++")
    assert stable.trainer == {"learning_rate": 0.1, "pre_clip": True, "advantage_filter": "paper"}
    assert plain.trainer == {"learning_rate": 0.1, "pre_clip": False, "advantage_filter": "none"}
    assert stable.output_dir != plain.output_dir and plain.export is None
    assert set(VARIANTS) == {"StableReinforce", "REINFORCE++"}


def test_the_plot_and_its_summary(tmp_path: Path) -> None:
    rows = {
        "StableReinforce": [
            {"step": s, "policy_loss": 0.1 * s, "log_ratio/max": 6.9, "completions/mean_length": 40.0, "reward": 1.0}
            for s in (1, 2, 3)
        ],
        "REINFORCE++": [
            {"step": 1, "policy_loss": 2.0, "log_ratio/max": 3.0, "completions/mean_length": 40.0, "reward": 1.0},
            {"step": 2, "policy_loss": 1.0e12, "log_ratio/max": 40.0, "completions/mean_length": 90.0, "reward": 0.5},
            {"step": 3, "policy_loss": "nan", "log_ratio/max": 95.0, "completions/mean_length": 96.0, "reward": 0.0},
        ],
    }
    metrics = {}
    for name, lines in rows.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in [{"step": 0, "train_runtime": 1.0}, *lines]))
        metrics[name] = path
    png = tmp_path / "stability.png"
    summary = plot_stability(metrics, png)
    assert Image.open(png).size == (1210, 1100)
    assert summary["REINFORCE++"]["non_finite_loss_steps"] == 1
    assert summary["REINFORCE++"]["max_abs_policy_loss"] == 1.0e12
    assert summary["StableReinforce"]["max_log_ratio"] == 6.9
    assert summary["StableReinforce"]["mean_reward_last_10_rollouts"] == 1.0
    assert summary["REINFORCE++"]["min_reward"] == 0.0
    assert summary["REINFORCE++"]["mean_reward_last_10_rollouts"] == 0.5
