"""Every constant of StableReinforce in one place; plain REINFORCE++ is the same code with two switches off."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

FilterRule = Literal["paper", "released", "none"]
Baseline = Literal["none", "group"]


@dataclass(frozen=True)
class StableReinforceSettings:
    """R1-Reward's StableReinforce (arXiv 2505.02835) on REINFORCE++ as OpenRLHF runs it.

    kl_coef: β of the per-token k1 KL penalty folded into the token rewards (released script: 1e-3).
    clip_eps: ε of the clipped surrogate.
    pre_clip: clamp the log-ratio to [ln ratio_min, ln ratio_max] before exponentiating (Pre-CLIP).
    advantage_filter: "paper" zeroes whitened advantages with |z| > filter_sigma; "released" zeroes
        those outside [m − filter_sigma, m + filter_sigma] (m: the raw mean of the returns, before
        whitening), those with |A| > filter_abs_max, and NaN/Inf; "none" keeps every token.
    whiten: subtract the mean and divide by the std over every token of the global batch.
    baseline: "none" is R1-Reward's (one sample per prompt, no baseline); "group" subtracts from each
        score the mean score of its prompt's samples before the KL and whitening (OpenRLHF's
        REINFORCE++-baseline), so a prompt whose samples all score alike teaches nothing but the KL.
    """

    kl_coef: float = 1e-3
    clip_eps: float = 0.2
    pre_clip: bool = True
    ratio_min: float = 1e-3
    ratio_max: float = 1e3
    advantage_filter: FilterRule = "paper"
    filter_sigma: float = 3.0
    filter_abs_max: float = 10.0
    whiten: bool = True
    gamma: float = 1.0
    baseline: Baseline = "none"

    def __post_init__(self) -> None:
        if not (0 < self.ratio_min < 1 < self.ratio_max):
            raise ValueError(f"Pre-CLIP needs 0 < ratio_min < 1 < ratio_max, got {self.ratio_min}, {self.ratio_max}")
        if not (0 < self.clip_eps < 1):
            raise ValueError(f"clip_eps must be in (0, 1), got {self.clip_eps}")
        if self.kl_coef < 0 or self.filter_sigma <= 0 or self.filter_abs_max <= 0 or not (0 < self.gamma <= 1):
            raise ValueError("kl_coef must be >= 0; filter_sigma and filter_abs_max > 0; gamma in (0, 1]")
        if self.baseline not in ("none", "group"):
            raise ValueError(f"baseline must be 'none' or 'group', got {self.baseline!r}")

    @property
    def log_ratio_bounds(self) -> tuple[float, float]:
        return math.log(self.ratio_min), math.log(self.ratio_max)

    def as_reinforce_pp(self) -> StableReinforceSettings:
        """Plain REINFORCE++: the same settings without Pre-CLIP and without the Advantage Filter."""
        return replace(self, pre_clip=False, advantage_filter="none")
