"""The stability experiment: plain REINFORCE++ against StableReinforce from the same policy, data and
seeds, under settings aggressive enough to matter (a high learning rate, several optimisation passes
per rollout, so the ratio π/π_old moves far from 1). Each run writes its metrics.jsonl; the plot
shows, per step, the policy loss, the largest log-ratio, the response length and the reward.

    r1judge-train stability --config configs/stability-demo.yaml --plot ../docs/stability.png
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from .rl_run import RlRun, load_run, run_rl

VARIANTS: dict[str, dict[str, Any]] = {
    "StableReinforce": {"pre_clip": True, "advantage_filter": "paper"},
    "REINFORCE++": {"pre_clip": False, "advantage_filter": "none"},
}


def variant_run(run: RlRun, name: str) -> RlRun:
    """The run file's settings with one variant's switches, writing under output_dir/<variant>."""
    slug = name.lower().replace("+", "p")
    return dataclasses.replace(
        run,
        output_dir=run.output_dir / slug,
        export=None,
        trainer={**run.trainer, **VARIANTS[name]},
    )


def run_stability(config: Path) -> dict[str, Path]:
    run = load_run(config)
    out: dict[str, Path] = {}
    for name in VARIANTS:
        variant = variant_run(run, name)
        try:
            run_rl(variant, resume=False)
        except (RuntimeError, ValueError) as err:  # a diverged run may end in NaN; its metrics are the point
            print(f"[stability] {name} stopped: {err}")
        out[name] = variant.output_dir / "metrics.jsonl"
    return out


def read_metrics(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if "policy_loss" in r]


def _value(row: dict[str, Any], key: str) -> float:
    v = row.get(key)
    if isinstance(v, str):  # inf / nan written as strings
        return float(v)
    return float("nan") if v is None else float(v)


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of the rows that logged `key`."""
    have = [r for r in rows if key in r]
    return [r["step"] for r in have], [_value(r, key) for r in have]


def _finite(rows: list[dict[str, Any]], key: str) -> list[float]:
    return [v for r in rows if math.isfinite(v := _value(r, key))]


PANELS = (
    ("policy_loss", "policy loss", "symlog"),
    ("log_ratio/max", "log π/π_old: largest, and smallest (dashed)", "linear"),
    ("completions/mean_length", "mean response length (tokens)", "linear"),
    ("reward", "mean reward", "linear"),
    ("grad_norm", "gradient norm before clipping", "log"),
    ("reward/format", "share of well-formed responses", "linear"),
)


def plot_stability(metrics: dict[str, Path], png: Path, title: str = "") -> dict[str, dict[str, float]]:
    """Six panels per step; returns each run's summary (max |loss|, log-ratio range, Pre-CLIP share, rewards)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, axes = plt.subplots(3, 2, figsize=(11, 10))
    summary: dict[str, dict[str, float]] = {}
    for name, path in metrics.items():
        rows = read_metrics(path)
        for ax, (key, label, scale) in zip(axes.flat, PANELS, strict=True):
            # Length and reward are logged on the steps that sample a rollout only: plot where there is a value.
            (line,) = ax.plot(*_series(rows, key), label=name, linewidth=1.2)
            if key == "log_ratio/max":  # runs logged before log_ratio/min existed have no lower line
                ax.plot(*_series(rows, "log_ratio/min"), color=line.get_color(), linestyle="--", linewidth=1)
            ax.set_title(label, fontsize=10)
            ax.set_yscale(scale)
            if scale == "symlog":
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
            ax.set_xlabel("step")
        losses = [_value(r, "policy_loss") for r in rows]
        rewards = [_value(r, "reward") for r in rows if not math.isnan(_value(r, "reward"))]
        summary[name] = {
            "steps": len(rows),
            "max_abs_policy_loss": max((abs(v) for v in losses if math.isfinite(v)), default=float("nan")),
            "non_finite_loss_steps": sum(not math.isfinite(v) for v in losses),
            "max_log_ratio": max((_value(r, "log_ratio/max") for r in rows), default=float("nan")),
            "min_log_ratio": min(_finite(rows, "log_ratio/min"), default=float("nan")),
            "max_pre_clip_fraction": max(_finite(rows, "pre_clip_fraction"), default=float("nan")),
            "max_grad_norm": max(_finite(rows, "grad_norm"), default=float("nan")),
            "first_reward": rewards[0] if rewards else float("nan"),
            "min_reward": min(rewards, default=float("nan")),
            "mean_reward_last_10_rollouts": sum(rewards[-10:]) / len(rewards[-10:]) if rewards else float("nan"),
        }
    axes.flat[0].legend()
    fig.suptitle(title or "REINFORCE++ vs StableReinforce from the same SFT checkpoint and seeds")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return summary
