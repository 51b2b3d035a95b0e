"""Client for the r1-judge server (standard library only).

    from r1judge_client import Client
    client = Client("http://judge:8080", api_key="…")
    client.judge("What is 7 + 5?", ["12", "13"], samples=8)["winner"]

Reward functions for RL libraries: `r1judge_client.trl.reward_function` and
`r1judge_client.trl.async_reward_function` (TRL), `r1judge_client.verl.compute_score` (verl's
custom_reward_function), `r1judge_client.areal.reward_fn` (AReaL); OpenRLHF needs no code
(`--reward.remote_url …/get_reward`).
"""

from .client import Client, ProblemError, RetryPolicy
from .prompts import question_and_images

__all__ = ["Client", "ProblemError", "RetryPolicy", "question_and_images"]
