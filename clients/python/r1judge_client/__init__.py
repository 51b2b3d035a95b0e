"""Client for the r1-judge server (standard library only).

    from r1judge_client import Client
    client = Client("http://judge:8080", api_key="…")
    client.judge("What is 7 + 5?", ["12", "13"], samples=8)["winner"]

Reward functions for RLHF libraries: `r1judge_client.trl.reward_function`,
`r1judge_client.verl.compute_score`; OpenRLHF needs no code (`--remote_rm_url …/get_reward`).
"""

from .client import Client, ProblemError, RetryPolicy
from .prompts import question_and_images

__all__ = ["Client", "ProblemError", "RetryPolicy", "question_and_images"]
