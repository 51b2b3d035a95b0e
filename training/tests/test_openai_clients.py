"""r1-judge's `/v1/chat/completions` called the way OpenAI-compatible reward clients call it: the real
server (node, demo model) on loopback.

- The `openai` package (`OpenAI(base_url=..., api_key=...).chat.completions.create`), as ROLL's
  `LLMJudgeRewardWorker` (`judge_model_type: api`) and any OpenAI client call a judge.
- verl's reward loop: a custom reward function posting `{model, messages, temperature, top_p,
  max_tokens}` with aiohttp to `http://{reward_router_address}/v1/chat/completions` (an address
  without a scheme) and reading the body with `openai.types.chat.ChatCompletion(**output)`, as verl's
  GenRM reward function does; and its `genrm_remote` recipe's `requests.post(f"{BASE_URL}/v1/chat/
  completions", json={"model", "messages"})` reading `["choices"][0]["message"]["content"]`.
- Our own StableReinforce consistency referee (`ChatReferee`) pointed at r1-judge. The demo judge
  does not answer "yes"/"no", so the documented outcome is a `RefereeError` carrying the reply it
  could not parse (the round trip worked), which the StableReinforce reward counts as 0.
"""

from __future__ import annotations

import asyncio
import json
import random

import aiohttp
import openai
import pytest
import requests
from openai.types.chat import ChatCompletion

from r1judge_train.rewards.referee import ChatReferee, RefereeError
from r1judge_train.rewards.stable_reinforce import StableReinforceReward

MODEL = "r1judge-demo"


def fresh(rng: random.Random) -> str:
    return f"Which is larger, {rng.randint(10, 99)} or {rng.randint(100, 999)}? ({rng.randint(0, 10**9)})"


def test_openai_package_models_completions_and_errors(server_url: str) -> None:
    client = openai.OpenAI(base_url=f"{server_url}/v1", api_key="EMPTY", max_retries=0, timeout=120)
    assert [m.id for m in client.models.list()] == [MODEL]

    messages = [{"role": "user", "content": fresh(random.Random(1))}]
    completion = client.chat.completions.create(
        model=MODEL, messages=messages, n=3, temperature=0.7, top_p=0.8, max_tokens=16, seed=5, stop=["</answer>"]
    )
    assert isinstance(completion, ChatCompletion)
    assert completion.object == "chat.completion" and completion.model == MODEL
    assert [c.index for c in completion.choices] == [0, 1, 2]
    for choice in completion.choices:
        assert choice.message.role == "assistant"
        assert isinstance(choice.message.content, str) and "</answer>" not in choice.message.content
        assert choice.finish_reason in ("stop", "length")
    assert completion.usage is not None
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    again = client.chat.completions.create(
        model=MODEL, messages=messages, n=3, temperature=0.7, top_p=0.8, max_tokens=16, seed=5, stop=["</answer>"]
    )
    assert [c.message.content for c in again.choices] == [c.message.content for c in completion.choices]

    # ROLL calls with the model and messages only: OpenAI's defaults (temperature 1, the server's max_tokens).
    assert client.chat.completions.create(model=MODEL, messages=messages).choices[0].message.content is not None

    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=messages)
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as streaming:
        client.chat.completions.create(model=MODEL, messages=messages, stream=True)
    assert "streaming is not supported yet" in str(streaming.value)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=MODEL, messages=messages, temperature=5)
    assert isinstance(bad.value.body, dict) and bad.value.body.get("param") == "temperature"


async def verl_chat_complete(router_address: str, chat_complete_request: dict) -> ChatCompletion:
    """How verl's GenRM reward function reaches the reward model's router."""
    url = f"http://{router_address}/v1/chat/completions"
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
    try:
        async with session.post(url, json=chat_complete_request) as resp:
            return ChatCompletion(**json.loads(await resp.text()))
    finally:
        await session.close()


async def verl_compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict,
    reward_router_address: str,
    reward_model_tokenizer: object = None,
) -> dict:
    """A verl reward-loop custom reward function with r1-judge as the GenRM (R1-Reward's verdict)."""
    prompt = f"Question: {extra_info['question']}\nResponse 1: {solution_str}\nResponse 2: {ground_truth}"
    request = {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0.7,
        "top_p": 0.8,
        "max_tokens": 48,
    }
    result = await verl_chat_complete(reward_router_address, request)
    reply = result.choices[0].message.content or ""
    return {"score": 1.0 if "<answer>1</answer>" in reply else 0.0, "genrm_response": reply}


def test_verl_reward_loop_custom_reward_function(server_url: str) -> None:
    router_address = server_url.removeprefix("http://")
    rng = random.Random(2)
    items = []
    for _ in range(16):
        a, b = rng.randint(10, 99), rng.randint(100, 999)
        items.append((f"Which is larger, {a} or {b}? ({rng.randint(0, 10**9)})", str(rng.choice([a, b])), str(b)))

    async def main() -> list[dict]:
        return await asyncio.gather(
            *(
                verl_compute_score("demo", solution, truth, {"question": q}, router_address)
                for q, solution, truth in items
            )
        )

    results = asyncio.run(main())
    assert len(results) == 16
    assert all(r["score"] in (0.0, 1.0) and isinstance(r["genrm_response"], str) for r in results)


def test_verl_genrm_remote_recipe_requests(server_url: str) -> None:
    data = {"model": MODEL, "messages": [{"role": "user", "content": fresh(random.Random(3))}]}
    output = requests.post(
        f"{server_url}/v1/chat/completions", headers={"Content-Type": "application/json"}, json=data, timeout=120
    )
    assert output.status_code == 200, output.text
    assert isinstance(output.json()["choices"][0]["message"]["content"], str)


def test_stable_reinforce_referee_against_a_live_r1_judge(server_url: str) -> None:
    referee = ChatReferee(base_url=f"{server_url}/v1", model=MODEL, tries=1, timeout_s=120)
    reasoning = "Response 1 says 74, which is correct. Response 2 says 47, which is wrong."
    # The request reached the judge and its reply came back: the demo judge writes a verdict trace,
    # not "yes"/"no", so the referee reports that reply as unparseable.
    with pytest.raises(RefereeError, match="unparseable referee reply"):
        referee(reasoning, 1)

    # In StableReinforce's reward that is a referee failure: consistency 0, counted, training goes on.
    reward = StableReinforceReward(referee=referee)
    parts = reward.score(f"<think>{reasoning}</think><answer>1</answer>", 1)
    assert parts.accuracy == 1.0 and parts.consistency == 0.0 and parts.referee_failed
    assert reward.referee_failures == 1

    # A referee asking for a model this server does not serve fails the same way, never silently.
    with pytest.raises(RefereeError, match="404"):
        ChatReferee(base_url=f"{server_url}/v1", model="gpt-4o", tries=1)(reasoning, 1)
