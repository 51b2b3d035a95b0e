"""StableReinforce's core against hand-computed values (and the paper's own example)."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch

from r1judge_train.algo.advantages import (
    advantage_filter,
    discounted_returns,
    group_baseline,
    last_token_index,
    reinforce_advantages,
    token_rewards,
    whiten,
)
from r1judge_train.algo.loss import policy_loss
from r1judge_train.algo.settings import StableReinforceSettings

STABLE = StableReinforceSettings(kl_coef=0.0)
PLAIN = STABLE.as_reinforce_pp()


def test_the_papers_example_overflows_without_pre_clip_and_is_bounded_with_it() -> None:
    # R1-Reward §3.1: log π = -0.1 everywhere, log π_old = [-10, -0.2, -0.2, -5], A = [-1, -1, 0.5, -0.5].
    logps = torch.full((1, 4), -0.1)
    old = torch.tensor([[-10.0, -0.2, -0.2, -5.0]])
    adv = torch.tensor([[-1.0, -1.0, 0.5, -0.5]])
    mask = torch.ones(1, 4)
    plain = policy_loss(logps, old, adv, mask, PLAIN)
    # ratio e^9.9 = 19930.4 with A = -1: min(-19930.4, -1.2) → loss 19930.4; e^0.1·1 = 1.105; -0.553; e^4.9·0.5 = 67.1.
    assert plain.per_token[0].tolist() == pytest.approx([19930.37, 1.1052, -0.5526, 67.1449], rel=1e-4)
    assert plain.loss.item() == pytest.approx((19930.37 + 1.1052 - 0.5526 + 67.1449) / 4, rel=1e-4)
    stable = policy_loss(logps, old, adv, mask, STABLE)
    # Pre-CLIP: the log-ratio 9.9 becomes ln 1000, so the first token's loss is 1000; 4.9 < ln 1000 stays.
    assert stable.per_token[0].tolist() == pytest.approx([1000.0, 1.1052, -0.5526, 67.1449], rel=1e-4)
    assert stable.ratio.max().item() == pytest.approx(1000.0, rel=1e-5)
    # A log-ratio of 100 overflows float32 without Pre-CLIP, and stays finite with it.
    old[0, 0] = -100.1
    assert not torch.isfinite(policy_loss(logps, old, adv, mask, PLAIN).loss)
    assert torch.isfinite(policy_loss(logps, old, adv, mask, STABLE).loss)


def test_clipped_surrogate_and_token_then_sequence_mean() -> None:
    logps = torch.log(torch.tensor([[1.5, 0.5, 1.0], [1.1, 1.0, 1.0]]))
    old = torch.zeros(2, 3)
    adv = torch.tensor([[1.0, -1.0, 2.0], [-1.0, 3.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    out = policy_loss(logps, old, adv, mask, PLAIN)
    # Row 0: ratio 1.5, A 1 → min(1.5, 1.2) = 1.2; ratio 0.5, A -1 → min(-0.5, -0.8) = -0.8; ratio 1, A 2 → 2.
    # Row 1: ratio 1.1, A -1 → -1.1; ratio 1, A 3 → 3; padding ignored.
    assert out.per_token.flatten().tolist() == pytest.approx([-1.2, 0.8, -2.0, 1.1, -3.0, 0.0], abs=1e-6)
    assert out.loss.item() == pytest.approx(((-1.2 + 0.8 - 2.0) / 3 + (1.1 - 3.0) / 2) / 2, abs=1e-6)
    assert out.clipped.tolist() == [[True, True, False], [False, False, False]]


def test_padding_with_inf_cannot_poison_the_loss() -> None:
    logps = torch.tensor([[-1.0, float("inf")]])
    out = policy_loss(logps, torch.tensor([[-1.0, -5.0]]), torch.tensor([[1.0, 1.0]]), torch.tensor([[1, 0]]), PLAIN)
    assert out.loss.item() == pytest.approx(-1.0)


def test_token_rewards_fold_the_kl_into_every_token_and_the_score_into_the_last() -> None:
    old = torch.tensor([[-1.0, -2.0, -3.0, 0.0], [-1.0, -1.0, 0.0, 0.0]])
    ref = torch.tensor([[-1.5, -1.0, -3.0, 0.0], [-2.0, -1.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    rewards = token_rewards(torch.tensor([1.0, -0.5]), mask, old, ref, kl_coef=0.1)
    # k1 = old - ref: row 0 [0.5, -1, 0] → -0.1·k1 = [-0.05, 0.1, 0]; +1 at its last token (index 2).
    assert rewards.flatten().tolist() == pytest.approx([-0.05, 0.1, 1.0, 0.0, -0.1, -0.5, 0.0, 0.0])
    assert last_token_index(torch.tensor([[1, 1, 0], [0, 0, 0]])).tolist() == [1, -1]


def test_returns_are_reverse_cumulative_sums_over_real_tokens() -> None:
    rewards = torch.tensor([[1.0, 2.0, 3.0, 9.0], [0.5, 0.5, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    assert discounted_returns(rewards, mask).tolist() == [[6.0, 5.0, 3.0, 0.0], [1.0, 0.5, 0.0, 0.0]]
    assert discounted_returns(rewards, mask, gamma=0.5)[0, :3].tolist() == pytest.approx(
        [1 + 0.5 * (2 + 1.5), 3.5, 3.0]
    )


def test_whitening_is_token_level_over_the_whole_batch() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    z = whiten(x, mask)
    # Tokens 1, 2, 3, 4: mean 2.5, population var 1.25.
    expected = [(v - 2.5) / math.sqrt(1.25) for v in (1.0, 2.0, 3.0, 4.0)]
    assert [z[0, 0], z[0, 1], z[0, 2], z[1, 0]] == pytest.approx(expected, rel=1e-5)
    assert z[1, 1].item() == 0.0
    # Across processes: sums are reduced, so two halves whiten like the whole.
    halves = [x[:1], x[1:]]
    masks = [mask[:1], mask[1:]]
    totals = sum(
        torch.stack([(h * m).sum(), (h * h * m).sum(), m.sum().float()]) for h, m in zip(halves, masks, strict=True)
    )
    assert whiten(halves[1], masks[1], reduce=lambda _: totals)[0, 0].item() == pytest.approx(expected[3], rel=1e-5)


def test_the_advantage_filter_zeroes_outliers_by_the_papers_rule_or_the_released_one() -> None:
    adv = torch.tensor([[0.5, -3.5, 3.0, float("nan")], [12.0, 4.0, -2.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    paper = advantage_filter(adv, mask, StableReinforceSettings())
    assert paper.tolist() == [[True, False, True, False], [False, False, True, False]]
    # Released: the window is [m − 3, m + 3] = [-1, 5] around the raw mean m = 2 of the returns, and |A| ≤ 10.
    released = advantage_filter(adv, mask, StableReinforceSettings(advantage_filter="released"), raw_mean=2.0)
    assert released.tolist() == [[True, False, True, False], [False, True, False, False]]
    none = advantage_filter(adv, mask, StableReinforceSettings(advantage_filter="none"))
    assert none.tolist() == [[True, True, True, False], [True, True, True, False]]


def test_reinforce_advantages_end_to_end() -> None:
    scores = torch.tensor([2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    mask = torch.ones(12, 1)
    out = reinforce_advantages(scores, mask, STABLE)
    # One sequence of 12 scores 2, the rest 0: its z-score is (2 − 1/6) / sqrt(11/36) = 3.32 > 3: filtered.
    assert out.kept[:, 0].tolist() == [False] + [True] * 11
    assert out.advantages[0, 0].item() == 0.0
    assert out.filtered_fraction == pytest.approx(1 / 12)
    plain = reinforce_advantages(scores, mask, PLAIN)
    assert plain.advantages[0, 0].item() == pytest.approx((2 - 1 / 6) / math.sqrt(11 / 36), rel=1e-5)
    assert plain.filtered_fraction == 0.0


def test_the_group_baseline_subtracts_each_prompts_mean_score() -> None:
    # Two prompts × 3 samples, consecutive as TRL's sampler repeats them.
    scores = torch.tensor([2.0, 0.0, 1.0, 1.5, 1.5, 1.5])
    assert group_baseline(scores, 3).tolist() == [1.0, -1.0, 0.0, 0.0, 0.0, 0.0]
    assert group_baseline(scores, 1).tolist() == [0.0] * 6
    with pytest.raises(ValueError, match="groups of 4"):
        group_baseline(scores, 4)
    # A prompt whose samples all scored alike gets no advantage at all once whitened.
    out = reinforce_advantages(group_baseline(scores, 3), torch.ones(6, 2), PLAIN)
    assert out.advantages[3:].abs().max().item() == 0.0 and out.advantages[0, 0].item() > 0


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="Pre-CLIP"):
        StableReinforceSettings(ratio_min=2.0)
    with pytest.raises(ValueError, match="clip_eps"):
        StableReinforceSettings(clip_eps=1.5)
    with pytest.raises(ValueError, match="baseline"):
        StableReinforceSettings(baseline="critic")  # type: ignore[arg-type]
    assert PLAIN.pre_clip is False and PLAIN.advantage_filter == "none"


def test_the_core_imports_torch_and_the_standard_library_only():
    """training/'s layering: the algorithm knows nothing of TRL, transformers or the data."""
    allowed = {"torch", "__future__", "collections", "dataclasses", "math", "typing"}
    for path in (Path(__file__).resolve().parents[1] / "src" / "r1judge_train" / "algo").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
