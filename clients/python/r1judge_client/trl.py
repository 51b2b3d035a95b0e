"""A TRL reward function backed by r1-judge: `(prompts, completions, **kwargs) -> list[float]`.

    from r1judge_client import Client
    from r1judge_client.trl import reward_function
    judge = reward_function(Client("http://judge:8080"), reference_column="reference", samples=4)
    GRPOTrainer(..., reward_funcs=[judge])

- Against a reference (`reference_column` names the dataset column TRL passes through kwargs): each
  completion is judged against its row's reference in /judge/batch; the reward is the share of the
  votes for the completion (votes in alternating order), 0.5 when no vote is valid.
- Within the prompt's group (`reference_column=None`): the completions of one prompt (TRL passes
  them consecutively) are ranked round robin by /rank; each one's reward is its win rate.
Chat prompts are reduced to the last user turn (text parts) and its images; an `images` column
(TRL's, for vision datasets) is used when present.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .client import Client
from .prompts import completion_text, question_and_images

RewardFunction = Callable[..., list[float]]


def reward_function(
    client: Client,
    reference_column: str | None = "reference",
    samples: int = 4,
    seed: int | None = 0,
    **judge_options: Any,
) -> RewardFunction:
    options = {"samples": samples, **({"seed": seed} if seed is not None else {}), **judge_options}

    def by_reference(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        references = kwargs.get(reference_column or "")
        if references is None:
            raise KeyError(f"the dataset has no '{reference_column}' column for the judge's reference")
        images = kwargs.get("images")
        items = []
        for i, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
            question, encoded = question_and_images(prompt, images[i] if images is not None else None)
            item = {"question": question, "responses": [completion_text(completion), str(references[i])], **options}
            if encoded:
                item["images"] = encoded
            items.append(item)
        results = client.judge_batch(items)
        return [_share(r) for r in results]

    def by_group(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        images = kwargs.get("images")
        rewards = [0.5] * len(completions)
        start = 0
        while start < len(prompts):
            end = start + 1
            while end < len(prompts) and prompts[end] == prompts[start]:
                end += 1
            if end - start >= 2:
                question, encoded = question_and_images(prompts[start], images[start] if images is not None else None)
                result = client.rank(
                    question,
                    [completion_text(c) for c in completions[start:end]],
                    images=encoded,
                    strategy="round_robin",
                    **options,
                )
                rewards[start:end] = [float(s) for s in result["scores"]]
            start = end
        return rewards

    fn = by_reference if reference_column else by_group
    fn.__name__ = "r1judge"  # TRL logs rewards under the function's name
    return fn


def _share(result: dict[str, Any]) -> float:
    if "status" in result and "winner" not in result:
        raise RuntimeError(f"the judge refused an item: {result.get('detail', result)}")
    first, second = result["preference"]
    return 0.5 if first + second == 0 else float(first)
