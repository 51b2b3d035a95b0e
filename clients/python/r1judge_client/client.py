"""Typed calls for every route of the r1-judge server, over urllib.

Retries: 429 and 503 (queue full, not ready, draining, engine restarting) are retried after the
server's Retry-After (seconds or an HTTP date), else with exponential backoff and jitter, up to
`RetryPolicy.attempts`; so are connection errors. Any other 4xx is the caller's fault and raises
`ProblemError` at once with the server's problem+json (status, code, the fields at fault).
Batches larger than a route's item limit are sent in chunks, `max_concurrency` at a time.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .prompts import encode_image

BATCH_LIMIT = 256  # /judge/batch items per request (openapi.yaml)
REWARD_CHUNK = 256  # /get_reward items per request: bounds the body, not a server limit


class ProblemError(Exception):
    """The server answered with an error (application/problem+json)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.code: str = str(problem.get("code", ""))
        self.fields: list[str] = [str(e.get("field")) for e in problem.get("errors", []) if isinstance(e, dict)]
        super().__init__(f"{status} {problem.get('title', '')}: {problem.get('detail', '')}".strip())


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    statuses: frozenset[int] = field(default_factory=lambda: frozenset({429, 503}))

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(self.max_delay, max(0.0, float(retry_after)))
            except ValueError:
                when = email.utils.parsedate_to_datetime(retry_after)
                if when is not None:
                    return min(self.max_delay, max(0.0, when.timestamp() - time.time()))
        return min(self.max_delay, self.base_delay * 2**attempt) * (0.5 + random.random() / 2)


_ONCE = RetryPolicy(attempts=1)


class Client:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 180.0,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.max_concurrency = max(1, max_concurrency)
        self._sleep = sleep

    # ---- transport ----
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        budget: float | None = None,
    ) -> Any:
        """One call with the retry rules above. `timeout` (seconds, default the client's) bounds each
        attempt; `budget` (seconds) bounds the whole call, waits before retries included: an attempt never
        outlives it and no retry is started that could not finish in it (then the last error is raised)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"accept": "application/json"}
        if data is not None:
            headers["content-type"] = "application/json"
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        policy = retry or self.retry
        per_attempt = self.timeout if timeout is None else timeout
        deadline = None if budget is None else time.monotonic() + budget
        for attempt in range(policy.attempts):
            left = per_attempt if deadline is None else min(per_attempt, deadline - time.monotonic())
            if left <= 0:
                raise TimeoutError(f"{method} {path}: no time left in the {budget} s budget")
            last = attempt + 1 >= policy.attempts
            req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=left) as res:
                    text = res.read().decode()
                    kind = res.headers.get("content-type", "")
                    return json.loads(text) if "json" in kind else text
            except urllib.error.HTTPError as err:
                text = err.read().decode(errors="replace")
                try:
                    problem = json.loads(text)
                except ValueError:
                    problem = {"detail": text[:300]}
                if err.code in policy.statuses and not last:
                    wait = policy.delay(attempt, err.headers.get("retry-after"))
                    if deadline is None or time.monotonic() + wait < deadline:
                        self._sleep(wait)
                        continue
                raise ProblemError(err.code, problem if isinstance(problem, dict) else {"detail": text}) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if last:
                    raise
                wait = policy.delay(attempt, None)
                if deadline is not None and time.monotonic() + wait >= deadline:
                    raise
                self._sleep(wait)
        raise AssertionError("unreachable")

    def _map(self, fn: Callable[[Any], Any], chunks: Sequence[Any]) -> list[Any]:
        if len(chunks) <= 1:
            return [fn(c) for c in chunks]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(chunks))) as pool:
            return list(pool.map(fn, chunks))

    # ---- routes ----
    def health(self) -> dict[str, Any]:
        return self.request("GET", "/healthz")

    def ready(self, timeout: float = 5.0) -> bool:
        """One readiness probe (`/readyz`), answered within `timeout` seconds: True on 200; False on any
        error status (503 while loading or draining, whatever its Retry-After), a timeout or no
        connection. A probe is never retried: its answer is the current state."""
        try:
            self.request("GET", "/readyz", timeout=min(timeout, self.timeout), retry=_ONCE)
            return True
        except (ProblemError, urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def models(self) -> list[dict[str, Any]]:
        return self.request("GET", "/models")["models"]

    def metrics(self) -> str:
        return self.request("GET", "/metrics")

    def judge(
        self, question: str, responses: Sequence[str], images: Sequence[Any] = (), **options: Any
    ) -> dict[str, Any]:
        """One pair: `options` are the request's fields (samples, seed, temperature, aggregation, …);
        images as paths, bytes, PIL images, data URLs or base64."""
        body = {"question": question, "responses": list(responses), **options}
        if images:
            body["images"] = _encoded(images)
        return self.request("POST", "/judge", body)

    def judge_batch(self, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each item as /judge takes it; results in order (a failed item is its problem, with `status`)."""
        chunks = [items[i : i + BATCH_LIMIT] for i in range(0, len(items), BATCH_LIMIT)]
        results = self._map(lambda c: self.request("POST", "/judge/batch", {"items": list(c)})["results"], chunks)
        return [r for chunk in results for r in chunk]

    def rank(
        self, question: str, candidates: Sequence[str], images: Sequence[str] = (), **options: Any
    ) -> dict[str, Any]:
        body = {"question": question, "candidates": list(candidates), **options}
        if images:
            body["images"] = _encoded(images)
        return self.request("POST", "/rank", body)

    def get_reward(
        self,
        query: Sequence[str],
        prompts: Sequence[str],
        labels: Sequence[Any] | None = None,
        *,
        samples: int | None = None,
        seed: int | None = None,
        timeout_ms: int | None = None,
        **options: Any,
    ) -> list[float]:
        """OpenRLHF's protocol: rewards in [0, 1] for `query[k]` (prompt + response) against `labels[k]`.

        `samples` (votes per item; the server's default is R1JUDGE_REWARD_SAMPLES), `seed` and `timeout_ms`
        (the server's deadline per request) and `options` (temperature, top_p, order, early_stop, …) are
        sent as /get_reward's fields; left out, the server's defaults apply."""
        if len(query) != len(prompts) or (labels is not None and len(labels) != len(query)):
            raise ValueError("query, prompts and labels must have the same length")
        spans = [(i, min(i + REWARD_CHUNK, len(query))) for i in range(0, len(query), REWARD_CHUNK)]
        fields = {"samples": samples, "seed": seed, "timeout_ms": timeout_ms, **options}
        settings = {k: v for k, v in fields.items() if v is not None}

        def call(span: tuple[int, int]) -> list[float]:
            a, b = span
            body: dict[str, Any] = {"query": list(query[a:b]), "prompts": list(prompts[a:b]), **settings}
            if labels is not None:
                body["labels"] = list(labels[a:b])
            return [float(r) for r in self.request("POST", "/get_reward", body)["rewards"]]

        return [r for chunk in self._map(call, spans) for r in chunk]


def _encoded(images: Sequence[Any]) -> list[str]:
    out = []
    for i, image in enumerate(images):
        encoded = encode_image(image)
        if encoded is None:
            raise TypeError(f"images[{i}]: expected a path, bytes, a PIL image, a data URL or base64")
        out.append(encoded)
    return out
