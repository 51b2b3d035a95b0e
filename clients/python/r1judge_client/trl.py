"""TRL reward functions backed by r1-judge: `(prompts, completions, **kwargs) -> list[float | None]`.

    from r1judge_client import Client
    from r1judge_client.trl import async_reward_function, reward_function
    judge = async_reward_function(Client("http://judge:8080"), reference_column="reference", samples=4)
    GRPOTrainer(..., reward_funcs=[judge])

`reward_function` is synchronous: one /judge/batch (or one /rank per group) at a time, and an item the
server refuses raises. `async_reward_function` is a coroutine function (TRL ≥ 1.0 awaits it on its own
event loop, next to its other async reward functions): each prompt's group of completions is one request,
at most `max_concurrency` requests in flight (the client's, 8 by default) across every call, and a
judgement that failed (refused item, no valid vote, server error or timeout after the client's retries)
is `None`, which TRL leaves out of the reward instead of counting a fake 0. A 4xx on a whole request
(bad key, bad field) is a configuration error and raises.

An empty or whitespace-only completion gets `empty_reward` (0.0) without being judged: a policy cannot
earn reward by saying nothing, whatever the judge would make of an empty answer.

- Against a reference (`reference_column` names the dataset column TRL passes through kwargs): each
  completion is judged against its row's reference in /judge/batch; the reward is the share of the
  votes for the completion (votes in alternating order, all of them drawn: `early_stop` off), 0.5 when
  no vote is valid.
- Within the prompt's group (`reference_column=None`): the completions of one prompt (TRL passes
  them consecutively) are ranked round robin by /rank; each one's reward is its win rate.
Chat prompts are reduced to the last user turn (text parts) and its images; an `images` column
(TRL's, for vision datasets) is used when present.
"""

from __future__ import annotations

import asyncio
import urllib.error
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .client import Client, ProblemError
from .prompts import completion_text, question_and_images

RewardFunction = Callable[..., list[float]]
EMPTY_REWARD = 0.0  # an empty or whitespace-only response: never judged, never better than this
# Every vote drawn: votes alternate the responses' order, and stopping early would weigh one order more.
REWARD_OPTIONS: dict[str, Any] = {"early_stop": False}
AsyncRewardFunction = Callable[..., Awaitable[list[float | None]]]


def reward_function(
    client: Client,
    reference_column: str | None = "reference",
    samples: int = 4,
    seed: int | None = 0,
    empty_reward: float | None = EMPTY_REWARD,
    **judge_options: Any,
) -> RewardFunction:
    options = {"samples": samples, **REWARD_OPTIONS, **({"seed": seed} if seed is not None else {}), **judge_options}

    def live(texts: Sequence[str]) -> list[int]:
        return [k for k, text in enumerate(texts) if empty_reward is None or text.strip()]

    def by_reference(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        references = kwargs.get(reference_column or "")
        if references is None:
            raise KeyError(f"the dataset has no '{reference_column}' column for the judge's reference")
        images = kwargs.get("images")
        texts = [completion_text(c) for c in completions]
        if len(texts) != len(prompts):
            raise ValueError("prompts and completions must have the same length")
        rewards = [float(empty_reward or 0.0)] * len(texts)
        judged = live(texts)
        items = []
        for i in judged:
            question, encoded = question_and_images(prompts[i], images[i] if images is not None else None)
            item = {"question": question, "responses": [texts[i], str(references[i])], **options}
            if encoded:
                item["images"] = encoded
            items.append(item)
        for i, result in zip(judged, client.judge_batch(items) if items else [], strict=True):
            rewards[i] = _share(result)
        return rewards

    def by_group(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        images = kwargs.get("images")
        texts = [completion_text(c) for c in completions]
        rewards = [0.5] * len(completions)
        for start, end in _groups(prompts, images):
            judged = [start + k for k in live(texts[start:end])]
            for i in set(range(start, end)) - set(judged):
                rewards[i] = float(empty_reward or 0.0)
            if len(judged) >= 2:
                question, encoded = question_and_images(prompts[start], images[start] if images is not None else None)
                result = client.rank(
                    question, [texts[i] for i in judged], images=encoded, strategy="round_robin", **options
                )
                for i, score in zip(judged, result["scores"], strict=True):
                    rewards[i] = float(score)
        return rewards

    fn = by_reference if reference_column else by_group
    fn.__name__ = "r1judge"  # TRL logs rewards under the function's name
    return fn


def _share(result: dict[str, Any]) -> float:
    """The judge's preference for the completion; a judgement without a valid vote raises, never a made-up 0.5."""
    if "status" in result and "winner" not in result:
        raise RuntimeError(f"the judge refused an item: {result.get('detail', result)}")
    first, second = result["preference"]
    if first + second == 0:
        raise RuntimeError(f"no sample gave a valid verdict ({result.get('votes', {}).get('invalid', '?')} invalid)")
    return float(first)


def _groups(prompts: Sequence[Any], images: Sequence[Any] | None = None) -> list[tuple[int, int]]:
    """Runs of adjacent rows with equal prompts (and equal images): TRL passes a prompt's completions
    consecutively. Two rows asking the same question about different images are different groups."""

    def equal(a: Any, b: Any) -> bool:
        try:
            return a is b or bool(a == b)
        except (TypeError, ValueError):  # arrays compare element-wise
            return False

    def same(i: int, j: int) -> bool:
        return equal(prompts[i], prompts[j]) and (images is None or equal(images[i], images[j]))

    spans, start = [], 0
    while start < len(prompts):
        end = start + 1
        while end < len(prompts) and same(end, start):
            end += 1
        spans.append((start, end))
        start = end
    return spans


def _share_or_none(result: dict[str, Any]) -> float | None:
    if "winner" not in result:  # a refused item: its problem, with `status`
        return None
    first, second = result["preference"]
    return None if first + second == 0 else float(first)


def _failed_call(error: BaseException) -> bool:
    """A call whose failure means "no reward this time" (server trouble, after the client's retries), as
    opposed to a configuration error that every later call would repeat (a 4xx)."""
    if isinstance(error, ProblemError):
        return error.status >= 500 or error.status in (408, 429)
    return isinstance(error, (urllib.error.URLError, ConnectionError, TimeoutError))


def async_reward_function(
    client: Client,
    reference_column: str | None = "reference",
    samples: int = 4,
    seed: int | None = 0,
    max_concurrency: int | None = None,
    empty_reward: float | None = EMPTY_REWARD,
    **judge_options: Any,
) -> AsyncRewardFunction:
    """An `async def` reward function for TRL's GRPOTrainer/RLOOTrainer, judged the way `reward_function`
    judges (against `reference_column`, or round robin within each prompt's group with None), with None
    for each failed judgement. `max_concurrency` (default the client's) bounds the requests in flight;
    an empty or whitespace-only completion gets `empty_reward` without being judged (None: judge it)."""
    options = {"samples": samples, **REWARD_OPTIONS, **({"seed": seed} if seed is not None else {}), **judge_options}
    pool = ThreadPoolExecutor(max_workers=max_concurrency or client.max_concurrency, thread_name_prefix="r1judge")

    def judge_group(items: list[dict[str, Any]]) -> list[float | None]:
        return [_share_or_none(r) for r in client.judge_batch(items)]

    def rank_group(question: str, candidates: list[str], images: list[str]) -> list[float | None]:
        result = client.rank(question, candidates, images=images, strategy="round_robin", **options)
        return [float(s) for s in result["scores"]]

    async def call(fn: Callable[..., list[float | None]], size: int, *args: Any) -> list[float | None]:
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except Exception as error:
            if _failed_call(error):
                return [None] * size
            raise

    async def group(question: str, encoded: list[str], texts: list[str], refs: list[Any] | None) -> list[Any]:
        rewards: list[float | None] = [empty_reward] * len(texts)
        live = [k for k, text in enumerate(texts) if empty_reward is None or text.strip()]
        if refs is not None and live:
            extra = {"images": encoded} if encoded else {}
            items = [{"question": question, "responses": [texts[k], str(refs[k])], **options, **extra} for k in live]
            judged = await call(judge_group, len(live), items)
        elif len(live) >= 2:
            judged = await call(rank_group, len(live), question, [texts[k] for k in live], encoded)
        else:
            judged = [0.5] * len(live)  # alone: nothing to be compared with (as reward_function)
        for k, reward in zip(live, judged, strict=True):
            rewards[k] = reward
        return rewards

    async def r1judge(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        if len(prompts) != len(completions):
            raise ValueError("prompts and completions must have the same length")
        images = kwargs.get("images")
        references = kwargs.get(reference_column) if reference_column else None
        if reference_column and references is None:
            raise KeyError(f"the dataset has no '{reference_column}' column for the judge's reference")
        tasks = []
        for start, end in _groups(prompts, images):
            question, encoded = question_and_images(prompts[start], images[start] if images is not None else None)
            texts = [completion_text(c) for c in completions[start:end]]
            refs = list(references[start:end]) if references is not None else None
            tasks.append(group(question, encoded, texts, refs))
        rewards = [r for rewards in await asyncio.gather(*tasks) for r in rewards]
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and rewards:
            log_metric("r1judge/failed_fraction", sum(r is None for r in rewards) / len(rewards))
        return rewards

    return r1judge
