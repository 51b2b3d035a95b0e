"""The clipped policy-gradient loss with StableReinforce's Pre-CLIP.

Shapes: B sequences × T completion tokens; `mask` (B, T) is 1 on real tokens. The ratio
π/π_old = exp(log π − log π_old) overflows for a log-ratio of ~90 (float32) and makes the surrogate
inf/NaN; Pre-CLIP clamps the log-ratio to [ln ratio_min, ln ratio_max] before exponentiating. Then
the PPO surrogate min(ρ·A, clip(ρ, 1 − ε, 1 + ε)·A); the loss is the token mean within each
sequence, then the mean over sequences (R1-Reward's aggregation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .settings import StableReinforceSettings


@dataclass(frozen=True)
class PolicyLoss:
    loss: torch.Tensor  # scalar
    per_token: torch.Tensor  # (B, T), 0 on padding
    ratio: torch.Tensor  # (B, T) π/π_old after Pre-CLIP
    clipped: torch.Tensor  # (B, T) bool: real tokens whose surrogate the ε-clip chose


def policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    settings: StableReinforceSettings,
) -> PolicyLoss:
    log_ratio = logps - old_logps  # (B, T)
    if settings.pre_clip:
        low, high = settings.log_ratio_bounds
        log_ratio = log_ratio.clamp(min=low, max=high)
    ratio = torch.exp(log_ratio)
    eps = settings.clip_eps
    unclipped = ratio * advantages
    clipped_surrogate = ratio.clamp(1 - eps, 1 + eps) * advantages
    # where, not a product: padding positions may hold anything, even inf, and inf · 0 is NaN.
    per_token = torch.where(mask.bool(), -torch.min(unclipped, clipped_surrogate), torch.zeros_like(ratio))
    per_sequence = per_token.sum(-1) / mask.to(per_token.dtype).sum(-1).clamp(min=1.0)  # (B,)
    chose_clip = (clipped_surrogate < unclipped) & mask.bool()
    return PolicyLoss(loss=per_sequence.mean(), per_token=per_token, ratio=ratio, clipped=chose_clip)
