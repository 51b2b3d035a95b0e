"""A verl `compute_score` backed by r1-judge: the policy's answer against the ground truth.

    custom_reward_function:
      path: <site-packages>/r1judge_client/verl.py   # or pkg://r1judge_client.verl
      name: compute_score
      reward_kwargs: {url: "http://judge:8080", samples: 4, timeout: 170}

verl loads the file by its path (`importlib.util.spec_from_file_location`, under a name of its own), so
this file imports the package absolutely, and finds it next to itself when it is not installed.
`reward_kwargs` arrive as keyword arguments: `url` (default R1JUDGE_URL, else http://127.0.0.1:8080),
`api_key` (default R1JUDGE_API_KEY), `samples` (votes, default R1JUDGE_SAMPLES, else 4), `seed` (0),
`timeout` (seconds per HTTP request, default 180), `timeout_ms` (the server's deadline per judgement),
`max_concurrency` (batched requests in flight, 8), `empty_reward` (0.0: the score of an empty or
whitespace-only solution, never judged) and /judge's sampling fields (`temperature`, `top_p`,
`top_k`, `max_new_tokens`, `order`, `early_stop`, `aggregation`). Any other keyword is refused with a
TypeError naming it, so a misspelt key never falls back to a default silently; the keywords verl passes
itself (`reward_router_address`, `reward_model_tokenizer` from its reward loop) are accepted and unused.

Both of verl's signatures: one item (`compute_score(data_source, solution_str, ground_truth,
extra_info)`, the naive/DAPO managers and the reward loop) and a batch (`compute_score(data_sources,
solution_strs, ground_truths, extra_infos)`, BatchRewardManager; judged in one /judge/batch per 256
items). The question travels in `extra_info["question"]` (or `extra_info["prompt"]`, plain or chat),
images in `extra_info["images"]`. The score is the share of the judge's votes for the solution, in
[0, 1]; a judgement the server refused raises (verl has no way to mark a reward as missing).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

try:
    from r1judge_client.client import Client
except ImportError:  # loaded by path from a checkout that is not installed: the package is next to this file
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from r1judge_client.client import Client
from r1judge_client.prompts import question_and_images
from r1judge_client.trl import EMPTY_REWARD, REWARD_OPTIONS, _share

JUDGE_OPTIONS = frozenset({"temperature", "top_p", "top_k", "max_new_tokens", "order", "early_stop", "aggregation"})
VERL_KEYWORDS = frozenset({"reward_router_address", "reward_model_tokenizer"})  # verl's own, not ours

_clients: dict[tuple[str, str | None, float, int], Client] = {}
_lock = threading.Lock()


def _client(url: str | None, api_key: str | None, timeout: float | None, max_concurrency: int | None) -> Client:
    key = (
        (url or os.environ.get("R1JUDGE_URL") or "http://127.0.0.1:8080").rstrip("/"),
        api_key if api_key is not None else os.environ.get("R1JUDGE_API_KEY"),
        float(timeout if timeout is not None else 180.0),
        int(max_concurrency or 8),
    )
    with _lock:
        if key not in _clients:
            _clients[key] = Client(key[0], key[1], timeout=key[2], max_concurrency=key[3])
        return _clients[key]


def _item(solution: str, truth: Any, extra: dict[str, Any] | None, settings: dict[str, Any]) -> dict[str, Any]:
    extra = extra or {}
    prompt = extra.get("question", extra.get("prompt"))
    if prompt is None:
        raise KeyError("extra_info needs 'question' (or 'prompt'): the judge compares answers to a question")
    question, images = question_and_images(prompt, extra.get("images"))
    item: dict[str, Any] = {"question": question, "responses": [solution, str(truth)], **settings}
    if images:
        item["images"] = images
    return item


def compute_score(
    data_source: Any = None,
    solution_str: Any = None,
    ground_truth: Any = None,
    extra_info: Any = None,
    *,
    data_sources: Sequence[Any] | None = None,
    solution_strs: Sequence[str] | None = None,
    ground_truths: Sequence[Any] | None = None,
    extra_infos: Sequence[dict[str, Any] | None] | None = None,
    client: Client | None = None,
    url: str | None = None,
    api_key: str | None = None,
    samples: int | None = None,
    seed: int | None = 0,
    timeout: float | None = None,
    timeout_ms: int | None = None,
    max_concurrency: int | None = None,
    empty_reward: float = EMPTY_REWARD,
    **options: Any,
) -> float | list[float]:
    unknown = sorted(set(options) - JUDGE_OPTIONS - VERL_KEYWORDS)
    if unknown:
        ours = ["url", "api_key", "samples", "seed", "timeout", "timeout_ms", "max_concurrency", "empty_reward"]
        accepted = [*ours, *JUDGE_OPTIONS]
        raise TypeError(f"r1judge compute_score: unknown reward_kwargs {unknown}; accepted: {sorted(accepted)}")
    votes = samples if samples is not None else int(os.environ.get("R1JUDGE_SAMPLES", "4"))
    settings: dict[str, Any] = {"samples": int(votes), **REWARD_OPTIONS}
    if seed is not None:
        settings["seed"] = int(seed)
    if timeout_ms is not None:
        settings["timeout_ms"] = int(timeout_ms)
    settings.update({k: v for k, v in options.items() if k in JUDGE_OPTIONS})
    judge = client or _client(url, api_key, timeout, max_concurrency)
    if solution_strs is not None or isinstance(solution_str, (list, tuple)):
        solutions = list(solution_strs if solution_strs is not None else solution_str)
        truths = list(ground_truths if ground_truths is not None else ground_truth)
        extras = list(extra_infos if extra_infos is not None else (extra_info or [None] * len(solutions)))
        if not len(solutions) == len(truths) == len(extras):
            raise ValueError("solution_strs, ground_truths and extra_infos must have the same length")
        scores = [float(empty_reward)] * len(solutions)
        live = [i for i, s in enumerate(solutions) if str(s).strip()]
        items = [_item(str(solutions[i]), truths[i], extras[i], settings) for i in live]
        for i, result in zip(live, judge.judge_batch(items) if items else [], strict=True):
            scores[i] = _share(result)
        return scores
    if not str(solution_str or "").strip():
        return float(empty_reward)
    return _share(judge.request("POST", "/judge", _item(str(solution_str), ground_truth, extra_info, settings)))
