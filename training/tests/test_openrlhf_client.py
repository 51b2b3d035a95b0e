"""OpenRLHF's remote reward client, as it calls r1-judge: the real server (node, demo model) on loopback.

The client code below is written the way OpenRLHF's is (its remote reward function, read in the
OpenRLHF repository): today's version POSTs ``{"query": [q], "prompts": [p], "labels": [l]}`` one
item per request with aiohttp, retries any failure up to 5 times a second apart, and turns the
answers into ``torch.tensor(rewards)``; versions up to 0.9 POST the whole rollout batch in one
``requests.post``. The advantage code then needs floating-point rewards.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import aiohttp
import requests
import torch

ROOT = Path(__file__).resolve().parents[2]


def chatml(question: str) -> str:
    return f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


def rollout(rng: random.Random) -> tuple[str, str, str]:
    a, b = rng.randint(10, 99), rng.randint(100, 999)
    prompt = chatml(f"Which is larger, {a} or {b}? ({rng.randint(0, 10**9)})")
    return f"{prompt}{rng.choice([a, b])}<|im_end|>", prompt, str(max(a, b))


async def request_reward(session: aiohttp.ClientSession, url: str, query: str, prompt: str, label: str) -> float:
    """One item per request, as OpenRLHF's remote reward function sends it, with its retry rule."""
    for _ in range(5):
        try:
            async with session.post(
                url, json={"query": [query], "prompts": [prompt], "labels": [label]}, timeout=aiohttp.ClientTimeout(180)
            ) as response:
                response.raise_for_status()
                return (await response.json())["rewards"][0]
        except aiohttp.ClientError:
            await asyncio.sleep(1)
    raise AssertionError("no reward after 5 tries")


def test_one_item_per_request_gives_float_rewards(server_url: str) -> None:
    rng = random.Random(1)
    items = [rollout(rng) for _ in range(32)]

    async def main() -> list[float]:
        async with aiohttp.ClientSession() as session:
            return await asyncio.gather(*(request_reward(session, f"{server_url}/get_reward", *i) for i in items))

    rewards = torch.tensor(asyncio.run(main()))
    assert rewards.dtype == torch.float32
    assert rewards.shape == (32,)
    assert bool(((rewards >= 0) & (rewards <= 1)).all())
    # What OpenRLHF's advantage code does with them; on int64 it raises ("std and var only support floating point").
    assert torch.isfinite((rewards - rewards.mean()) / (rewards.std() + 1e-8)).all()


def test_a_whole_batch_of_1000_in_one_request(server_url: str) -> None:
    rng = random.Random(2)
    query, prompts, labels = (list(x) for x in zip(*(rollout(rng) for _ in range(1000)), strict=True))
    # Nine in ten policies wrote nothing (floor reward, not judged): the batch stays cheap while every
    # tenth item is judged in full (a judgement cut off before its verdict would be no reward: 502).
    for k in range(1000):
        if k % 10:
            query[k] = f"{prompts[k]}<|im_end|>"
    response = requests.post(
        f"{server_url}/get_reward",
        json={"query": query, "prompts": prompts, "labels": labels, "samples": 1},
        timeout=180,
    )
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    rewards = torch.tensor(body["rewards"])
    assert rewards.dtype == torch.float32 and rewards.shape == (1000,)
    assert all(isinstance(v, float) for v in body["scores"] + body["extra_logs"]["votes_for"])
    assert body["extra_logs"]["empty_response"] == [0.0 if k % 10 == 0 else 1.0 for k in range(1000)]
    assert all(r == 0.0 for k, r in enumerate(body["rewards"]) if k % 10)


def test_numeric_labels_and_llama3_markup(server_url: str) -> None:
    prompt = (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhich is larger, 27 or 72?"
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    response = requests.post(
        f"{server_url}/get_reward",
        json={"query": [f"{prompt}72<|eot_id|>"], "prompts": [prompt], "labels": [72]},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["rewards"][0], float)
