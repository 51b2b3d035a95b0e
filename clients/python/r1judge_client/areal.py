"""An AReaL reward function backed by r1-judge: `reward_fn(prompt, completions, prompt_ids, completion_ids,
**kw) -> float`, the policy's completion judged against the dataset's reference answer.

    # by name (AReaL imports it in each reward worker process), configured by the environment:
    RLVRWorkflow(reward_fn="r1judge_client.areal.reward_fn", ...)
    # or as an object (picklable: AReaL's AsyncRewardWrapper runs it in a ProcessPoolExecutor):
    RLVRWorkflow(reward_fn=RewardFunction(url="http://judge:8080", samples=4), ...)

AReaL calls it with the prompt decoded from its token ids (chat markup included), the decoded completion,
both id lists and every field of the dataset row as keywords. The question is the last user turn of the
row's `messages` (text parts; its image parts and an `images` field are sent as the images, PIL images
included), else of the rendered prompt (ChatML/Qwen or Llama 3 markup; image placeholders dropped);
the completion is cut at its end-of-turn marker (nothing left: `empty_reward`, 0.0, without judging);
the reference is the row's `answer` field (`reference_key`). The reward is the share of the judge's
votes for the completion, in [0, 1].

Timeout: AReaL's AsyncRewardWrapper gives up on a call after 15 s (`timeout_seconds`), retries it, and
after the last try counts the reward as 0. This function finishes first: the whole call, retries of
429/503 and connection errors included, is bounded by `timeout` (12 s by default), and the server is told
to give up one second earlier (`timeout_ms`). A judgement that fails raises instead of returning a
made-up number; AReaL logs it and retries the call. Keep `timeout` under AReaL's `timeout_seconds`.

Environment (for `reward_fn`): R1JUDGE_URL (http://127.0.0.1:8080), R1JUDGE_API_KEY, R1JUDGE_SAMPLES (4),
R1JUDGE_TIMEOUT (12, seconds), R1JUDGE_REFERENCE_KEY (answer).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from .client import Client, RetryPolicy
from .prompts import completion_text, question_and_images
from .trl import EMPTY_REWARD, REWARD_OPTIONS, _share

DEFAULT_TIMEOUT = 12.0  # seconds; AReaL's AsyncRewardWrapper times out at 15
AREAL_TIMEOUT = 15.0

_TURNS = (
    re.compile(r"<\|im_start\|>user\n(.*?)(?:<\|im_end\|>|$)", re.S),  # ChatML / Qwen
    re.compile(r"<\|start_header_id\|>user<\|end_header_id\|>\n\n(.*?)(?:<\|eot_id\|>|$)", re.S),  # Llama 3
)
_VISION = re.compile(r"<\|vision_start\|>.*?<\|vision_end\|>|<\|image_pad\|>|<\|image\|>", re.S)
_END_MARKERS = ("<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<end_of_turn>", "</s>")


def question_from_rendered(prompt: str) -> str:
    """The last user turn of a prompt rendered by a chat template (ChatML/Qwen, Llama 3), image placeholders
    dropped; a prompt without such markup as it is."""
    for pattern in _TURNS:
        turns = pattern.findall(prompt)
        if turns:
            return _VISION.sub("", turns[-1]).strip()
    return _VISION.sub("", prompt).strip()


def response_text(completion: Any) -> str:
    """The completion up to its first end-of-turn marker (AReaL decodes it with special tokens kept)."""
    text = completion_text(completion)
    cut = min((i for i in (text.find(m) for m in _END_MARKERS) if i >= 0), default=len(text))
    return text[:cut].strip()


@dataclass(frozen=True)
class RewardFunction:
    """A picklable AReaL reward function; the fields are read once per worker process."""

    url: str = "http://127.0.0.1:8080"
    api_key: str | None = None
    samples: int = 4
    seed: int | None = 0
    timeout: float = DEFAULT_TIMEOUT
    reference_key: str = "answer"
    empty_reward: float = EMPTY_REWARD  # an empty or whitespace-only completion, never judged
    options: dict[str, Any] = field(default_factory=dict)  # other /judge fields: temperature, order, …

    def __post_init__(self) -> None:
        if not 1.0 < self.timeout < AREAL_TIMEOUT:
            raise ValueError(f"timeout {self.timeout} s: keep it over 1 s and under AReaL's {AREAL_TIMEOUT:g} s")

    def __call__(
        self, prompt: Any, completions: Any, prompt_ids: Any = None, completion_ids: Any = None, **kw: Any
    ) -> float:
        if self.reference_key not in kw:
            raise KeyError(f"the dataset row has no '{self.reference_key}' field for the judge's reference")
        response = response_text(completions)
        if not response:
            return float(self.empty_reward)
        if kw.get("messages"):
            question, images = question_and_images(kw["messages"], kw.get("images"))
        else:
            question, images = question_and_images(question_from_rendered(str(prompt)), kw.get("images"))
        body: dict[str, Any] = {
            "question": question,
            "responses": [response, str(kw[self.reference_key])],
            "samples": self.samples,
            **REWARD_OPTIONS,
            "timeout_ms": int((self.timeout - 1.0) * 1000),
            **({"seed": self.seed} if self.seed is not None else {}),
            **self.options,
        }
        if images:
            body["images"] = images
        return _share(_client(self).request("POST", "/judge", body, budget=self.timeout))


_clients: dict[tuple[str, str | None, float], Client] = {}


def _client(fn: RewardFunction) -> Client:
    key = (fn.url, fn.api_key, fn.timeout)
    if key not in _clients:
        retry = RetryPolicy(attempts=4, base_delay=0.25, max_delay=2.0)
        _clients[key] = Client(fn.url, fn.api_key, timeout=fn.timeout, retry=retry)
    return _clients[key]


_default: RewardFunction | None = None


def reward_fn(prompt: Any, completions: Any, prompt_ids: Any = None, completion_ids: Any = None, **kw: Any) -> float:
    """AReaL's reward function signature, configured by the environment (module docstring)."""
    global _default
    if _default is None:
        _default = RewardFunction(
            url=os.environ.get("R1JUDGE_URL", "http://127.0.0.1:8080"),
            api_key=os.environ.get("R1JUDGE_API_KEY"),
            samples=int(os.environ.get("R1JUDGE_SAMPLES", "4")),
            timeout=float(os.environ.get("R1JUDGE_TIMEOUT", str(DEFAULT_TIMEOUT))),
            reference_key=os.environ.get("R1JUDGE_REFERENCE_KEY", "answer"),
        )
    return _default(prompt, completions, prompt_ids, completion_ids, **kw)
