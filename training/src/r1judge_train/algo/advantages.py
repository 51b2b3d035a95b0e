"""REINFORCE++ advantages with StableReinforce's Advantage Filter.

Shapes: B sequences × T completion tokens; `mask` (B, T) is 1 on real tokens. As OpenRLHF's
REINFORCE++: each token's reward is the per-token KL penalty −β·(log π_old − log π_ref) (k1), the
sequence's scalar score is added at its last real token, returns are reverse cumulative sums
(γ = 1: no critic; no baseline, or with `baseline: group` each score less its prompt's mean score),
and the returns are whitened over every token of the global batch.
The Advantage Filter then zeroes outliers (it does not drop them: the token still counts in the
loss's token mean, with advantage 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .settings import StableReinforceSettings

# Sums of the local batch → sums over every process (torch.distributed all-reduce); identity on one.
Reduce = Callable[[torch.Tensor], torch.Tensor]


def _no_reduce(x: torch.Tensor) -> torch.Tensor:
    return x


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """(B,) index of each row's last real token; -1 for a row without one."""
    positions = torch.arange(mask.size(1), device=mask.device).expand_as(mask)
    return torch.where(mask.bool(), positions, torch.full_like(positions, -1)).max(dim=1).values


def group_baseline(scores: torch.Tensor, group_size: int) -> torch.Tensor:
    """(B,) each score minus the mean score of its group: B = prompts × group_size, each prompt's
    samples consecutive (as TRL's sampler repeats them)."""
    if group_size < 1 or scores.numel() % group_size:
        raise ValueError(f"{scores.numel()} scores do not split into groups of {group_size}")
    grouped = scores.float().view(-1, group_size)
    return (grouped - grouped.mean(dim=1, keepdim=True)).view(-1)


def token_rewards(
    scores: torch.Tensor,
    mask: torch.Tensor,
    old_logps: torch.Tensor | None = None,
    ref_logps: torch.Tensor | None = None,
    kl_coef: float = 0.0,
) -> torch.Tensor:
    """(B, T) rewards: −kl_coef·(old − ref) on every real token, plus the score on the last one."""
    mask = mask.to(torch.float32)
    rewards = torch.zeros_like(mask)
    if kl_coef and old_logps is not None and ref_logps is not None:
        rewards = -kl_coef * (old_logps.float() - ref_logps.float()) * mask  # (B, T)
    last = last_token_index(mask)  # (B,)
    rows = torch.nonzero(last >= 0).squeeze(1)
    rewards[rows, last[rows]] += scores.float()[rows]
    return rewards


def discounted_returns(rewards: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """(B, T) reverse cumulative sums of the rewards over real tokens: G_t = r_t + γ·G_{t+1}."""
    mask = mask.to(rewards.dtype)
    returns = torch.zeros_like(rewards)
    running = torch.zeros(rewards.size(0), dtype=rewards.dtype, device=rewards.device)  # (B,)
    for t in range(rewards.size(1) - 1, -1, -1):
        running = (rewards[:, t] + gamma * running) * mask[:, t]
        returns[:, t] = running
    return returns


def masked_mean_var(
    x: torch.Tensor, mask: torch.Tensor, reduce: Reduce = _no_reduce
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (population) variance of x over the real tokens of the global batch."""
    mask = mask.to(x.dtype)
    sums = reduce(torch.stack([(x * mask).sum(), (x * x * mask).sum(), mask.sum()]))
    count = sums[2].clamp(min=1.0)
    mean = sums[0] / count
    var = (sums[1] / count - mean * mean).clamp(min=0.0)
    return mean, var


def whiten(x: torch.Tensor, mask: torch.Tensor, reduce: Reduce = _no_reduce, eps: float = 1e-8) -> torch.Tensor:
    """(x − mean) / std over every real token of the global batch; 0 on padding."""
    mean, var = masked_mean_var(x, mask, reduce)
    return (x - mean) * torch.rsqrt(var + eps) * mask.to(x.dtype)


def advantage_filter(
    advantages: torch.Tensor,
    mask: torch.Tensor,
    settings: StableReinforceSettings,
    raw_mean: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """(B, T) bool: the real tokens whose advantage the filter keeps (the rest get advantage 0).

    "paper": |z| ≤ σ on the whitened advantages. "released" (the authors' code): inside
    [m − σ, m + σ] with m the raw mean of the returns before whitening, |A| ≤ abs_max, and finite.
    """
    real = mask.bool()
    finite = torch.isfinite(advantages)
    if settings.advantage_filter == "none":
        return real & finite
    sigma = settings.filter_sigma
    if settings.advantage_filter == "paper":
        return real & finite & (advantages.abs() <= sigma)
    m = torch.as_tensor(raw_mean, dtype=advantages.dtype, device=advantages.device)
    inside = (advantages >= m - sigma) & (advantages <= m + sigma)
    return real & finite & inside & (advantages.abs() <= settings.filter_abs_max)


@dataclass(frozen=True)
class Advantages:
    advantages: torch.Tensor  # (B, T), 0 on padding and on filtered tokens
    returns: torch.Tensor  # (B, T), before whitening
    kept: torch.Tensor  # (B, T) bool: real tokens the filter kept
    filtered_fraction: float  # filtered real tokens / real tokens, global


def reinforce_advantages(
    scores: torch.Tensor,
    mask: torch.Tensor,
    settings: StableReinforceSettings,
    old_logps: torch.Tensor | None = None,
    ref_logps: torch.Tensor | None = None,
    reduce: Reduce = _no_reduce,
) -> Advantages:
    """Token advantages for a batch of scored sequences (`scores` (B,), one per sequence)."""
    rewards = token_rewards(scores, mask, old_logps, ref_logps, settings.kl_coef)
    returns = discounted_returns(rewards, mask, settings.gamma)
    raw_mean, _ = masked_mean_var(returns, mask, reduce)
    advantages = whiten(returns, mask, reduce) if settings.whiten else returns * mask.to(returns.dtype)
    kept = advantage_filter(advantages, mask, settings, raw_mean)
    advantages = torch.where(kept, advantages, torch.zeros_like(advantages))
    counts = reduce(torch.stack([mask.bool().sum(), (mask.bool() & ~kept).sum()]).to(torch.float32))
    filtered = (counts[1] / counts[0].clamp(min=1.0)).item()
    return Advantages(advantages=advantages, returns=returns, kept=kept, filtered_fraction=filtered)
