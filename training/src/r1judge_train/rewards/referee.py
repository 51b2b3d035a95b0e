"""Referees: does a judge's reasoning conclude what its answer says? +1 (consistent) or −1 (not).

R1-Reward asked Qwen2.5-VL-7B-Instruct (text only, temperature 0.1, up to 3 tries) about the last
3 lines of the reasoning and the stated choice. Three interchangeable referees: `RuleReferee` reads
the demo task's fixed sentence shape; `ChatReferee` asks any OpenAI-compatible chat endpoint (as the
authors did); `ModelReferee` asks a frozen local model. A referee that cannot decide raises
`RefereeError`: the reward counts that as 0 (neither consistent nor not) and counts the failure.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol


class RefereeError(Exception):
    """The referee gave no usable answer (network, timeout, unparseable reply)."""


class Referee(Protocol):
    def __call__(self, reasoning: str, choice: int) -> int:
        """+1 when `reasoning` concludes that Response `choice` is better, −1 when it does not."""
        ...


def last_lines(text: str, n: int = 3) -> str:
    """The reasoning's last n non-empty lines (R1-Reward's referee saw 3); sentences when it is one line."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if len(lines) == 1:
        lines = [s for s in re.split(r"(?<=[.!?])\s+", lines[0]) if s]
    return "\n".join(lines[-n:])


# A claim is one value ("12", "red", "circle"): no full stop inside it.
_CORRECT = re.compile(r"Response ([12]) says [^.]*?, which is correct\.")


@dataclass(frozen=True)
class RuleReferee:
    """The demo task's traces end with "Response k says X, which is correct/wrong." for both responses:
    the reasoning concludes for the one it calls correct. Exactly one must be called correct."""

    def __call__(self, reasoning: str, choice: int) -> int:
        named = set(_CORRECT.findall(reasoning))
        if len(named) != 1:
            return -1  # calls neither or both correct: it concludes nothing the answer could agree with
        return 1 if int(named.pop()) == choice else -1


REFEREE_PROMPT = (
    "A judge compared two responses, Response 1 and Response 2. Here are the last lines of its reasoning:\n"
    "---\n{reasoning}\n---\n"
    "Its final choice was Response {choice}. Does the reasoning conclude that Response {choice} is the better "
    "one? Reply with exactly one word: yes or no."
)


def parse_referee_reply(reply: str) -> int:
    words = re.findall(r"[a-z]+", reply.lower())
    if words[:1] == ["yes"]:
        return 1
    if words[:1] == ["no"]:
        return -1
    raise RefereeError(f"unparseable referee reply: {reply[:80]!r}")


@dataclass
class ChatReferee:
    """An OpenAI-compatible chat completions endpoint (vLLM, SGLang, OpenAI, …)."""

    base_url: str  # e.g. http://referee:8000/v1
    model: str
    api_key: str | None = None
    temperature: float = 0.1
    tries: int = 3
    timeout_s: float = 30.0
    max_tokens: int = 4
    extra_headers: dict[str, str] = field(default_factory=dict)

    def __call__(self, reasoning: str, choice: int) -> int:
        body = {
            "model": self.model,
            "messages": [
                {"role": "user", "content": REFEREE_PROMPT.format(reasoning=last_lines(reasoning), choice=choice)}
            ],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        headers = {"Content-Type": "application/json", **self.extra_headers}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        problem: Exception | None = None
        for attempt in range(self.tries):
            try:
                reply = self._post(body, headers)
                return parse_referee_reply(reply["choices"][0]["message"]["content"])
            except (RefereeError, urllib.error.URLError, TimeoutError, KeyError, IndexError, ValueError) as err:
                problem = err
                time.sleep(min(2.0, 0.2 * 2**attempt))
        raise RefereeError(f"no answer after {self.tries} tries: {problem}")

    def _post(self, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.base_url.rstrip('/')}/chat/completions", data=json.dumps(body).encode(), headers=headers
        )
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            return json.loads(response.read())


@dataclass
class ModelReferee:
    """A frozen local causal LM (any transformers chat model) asked the same question, greedily."""

    model: Any  # a transformers PreTrainedModel
    tokenizer: Any  # its tokenizer, with a chat template
    max_new_tokens: int = 4

    def __call__(self, reasoning: str, choice: int) -> int:
        import torch

        messages = [{"role": "user", "content": REFEREE_PROMPT.format(reasoning=last_lines(reasoning), choice=choice)}]
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        if not isinstance(ids, torch.Tensor):
            ids = ids["input_ids"]
        with torch.no_grad():
            out = self.model.generate(ids, max_new_tokens=self.max_new_tokens, do_sample=False)
        return parse_referee_reply(self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
