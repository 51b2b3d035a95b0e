"""r1judge_client's reward functions called the way each framework calls them, against the real server (node,
demo model) and, for error paths, a local fake one.

TRL (trl/trainer/grpo_trainer.py `_calculate_rewards`, TRL 1.x): an `async def` reward function is told
apart with `inspect.iscoroutinefunction`, and awaited on the trainer's own event loop thread
(`asyncio.run_coroutine_threadsafe(..., self.async_loop)`) with `prompts=`, `completions=`,
`completion_ids=`, every other dataset column as a list, `trainer_state=`, `log_extra=` and `log_metric=`;
a prompt's `num_generations` completions are adjacent; None becomes NaN (no reward from this function).
Those tests reproduce that call; one more runs GRPOTrainer itself for a step on a tiny random policy.

AReaL (areal/api/reward_api.py `AsyncRewardWrapper`): the reward function runs in a ProcessPoolExecutor
through `loop.run_in_executor(executor, partial(reward_fn, *args, **kwargs))` under
`asyncio.wait_for(..., timeout=15)`; RLVRWorkflow passes (prompt_str, completions_str, input_tokens,
output_tokens, **row) positionally, VisionRLVRWorkflow the same as keywords, the row's PIL `images` included.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import importlib
import inspect
import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import pytest
from r1judge_client import Client, RetryPolicy
from r1judge_client.areal import DEFAULT_TIMEOUT, RewardFunction, question_from_rendered, response_text
from r1judge_client.trl import async_reward_function, reward_function
from r1judge_client.verl import compute_score as verl_compute_score

ROOT = Path(__file__).resolve().parents[2]
RED = ROOT / "docs" / "examples" / "red-circle.png"


@pytest.fixture(scope="module")
def client(server_url: str) -> Client:
    return Client(server_url, max_concurrency=4)


# ---- TRL ----


class TrlLike:
    """The part of GRPOTrainer that calls reward functions: its event loop on a thread of its own, and
    `_calculate_rewards`' keywords."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.metrics: dict[str, list[float]] = {}

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def rewards(self, fn: Any, inputs: list[dict[str, Any]], completions: list[Any]) -> list[float | None]:
        assert inspect.iscoroutinefunction(fn), "TRL awaits only what iscoroutinefunction says is async"
        prompts = [x["prompt"] for x in inputs]
        keys = [k for k in inputs[0] if k not in ("prompt", "completion", "completion_ids")]
        kwargs: dict[str, Any] = {k: [x[k] for x in inputs] for k in keys}
        kwargs["trainer_state"] = object()
        kwargs["log_extra"] = lambda column, values: None
        kwargs["log_metric"] = lambda name, value: self.metrics.setdefault(name, []).append(value)
        ids = [[1, 2, 3] for _ in completions]

        async def run() -> list[Any]:
            output = await fn(prompts=prompts, completions=completions, completion_ids=ids, **kwargs)
            assert len(output) == len(prompts)
            return output

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=300)


@pytest.fixture
def trl() -> Iterator[TrlLike]:
    caller = TrlLike()
    yield caller
    caller.close()


def grouped(rows: list[dict[str, Any]], generations: int) -> list[dict[str, Any]]:
    """TRL's RepeatSampler: each row repeated num_generations times, adjacent."""
    return [row for row in rows for _ in range(generations)]


def test_trl_async_against_a_reference_with_images(client: Client, trl: TrlLike) -> None:
    big = base64.b64encode(RED.read_bytes()).decode()
    rows = [
        {"prompt": "Which is larger, 28 or 82? (trl async)", "solution": "82"},
        {
            "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which colour?"}]}],
            "solution": "The shape is red.",
            "images": [big],
        },
    ]
    rows[0]["images"] = None
    inputs = grouped(rows, 3)
    completions: list[Any] = ["82", " ", "It is 82.", *([[{"role": "assistant", "content": "Blue."}]] * 3)]
    reward = async_reward_function(client, reference_column="solution", samples=2)
    rewards = trl.rewards(reward, inputs, completions)
    assert len(rewards) == 6 and all(r is not None and 0.0 <= r <= 1.0 for r in rewards)
    assert rewards[1] == 0.0, "an empty completion gets the floor"
    assert reward.__name__ == "r1judge"
    assert trl.metrics["r1judge/failed_fraction"] == [0.0]


def test_trl_async_within_each_group(client: Client, trl: TrlLike) -> None:
    inputs = grouped([{"prompt": "Which is larger, 39 or 93? (group)"}, {"prompt": "Which is larger, 4 or 40?"}], 3)
    reward = async_reward_function(client, reference_column=None, samples=1)
    rewards = trl.rewards(reward, inputs, ["93", "39", "both", "40", "4", "40!"])
    assert all(r is not None for r in rewards)
    assert abs(sum(rewards[:3]) - 1.5) < 1e-9 and abs(sum(rewards[3:]) - 1.5) < 1e-9  # type: ignore[arg-type]


@pytest.mark.slow
def test_trl_grpo_trainer_trains_a_step_on_the_async_judge(client: Client, tmp_path: Path) -> None:
    """TRL itself: GRPOTrainer (a tiny random Qwen2 policy with the demo judge's tokenizer, on the CPU)
    generates 4 completions per prompt, awaits the judge for them and logs its reward."""
    from datasets import Dataset
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(ROOT / "models" / "demo")
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    rows = [{"prompt": f"Which is larger, {a} or {b}? (grpo)", "solution": str(max(a, b))} for a, b in [(16, 61)] * 2]
    judge = async_reward_function(client, reference_column="solution", samples=2)
    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_steps=1,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=3,
    )
    trainer = GRPOTrainer(
        model=Qwen2ForCausalLM(config),
        processing_class=tokenizer,
        reward_funcs=[judge],
        train_dataset=Dataset.from_list(rows),
        args=args,
    )
    trainer.train()
    logged = trainer.state.log_history[0]
    assert 0.0 <= logged["rewards/r1judge/mean"] <= 1.0
    assert logged["r1judge/failed_fraction"] == 0.0


class _Fake(http.server.BaseHTTPRequestHandler):
    """/judge/batch: item "refuse" fails alone; "down" answers 503; "auth" 401; counts requests in flight."""

    in_flight = 0
    most = 0
    lock = threading.Lock()
    delay = 0.0
    release = threading.Event()
    seen: ClassVar[list[str]] = []
    responses: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.most = max(cls.most, cls.in_flight)
        try:
            cls.release.wait(cls.delay)
            questions = [item["question"] for item in body.get("items", [body])]
            cls.seen.extend(questions)
            cls.responses.extend(r for item in body.get("items", [body]) for r in item.get("responses", []))
            cls.responses.extend(body.get("candidates", []))
            if any(q.startswith("down") for q in questions):
                self._send(503, {"title": "Engine restarting"}, {"Retry-After": "0"})
            elif any(q.startswith("auth") for q in questions):
                self._send(401, {"title": "Unauthorized"})
            elif any(q.startswith("slow") for q in questions):
                cls.release.wait(30)  # the client gives up first: nothing to answer
            elif self.path == "/rank":
                n = len(body["candidates"])
                self._send(200, {"best": 0, "ranking": list(range(n)), "scores": [i / n for i in range(n)]})
            elif self.path == "/judge/batch":
                results = [
                    {"status": 422, "title": "bad image"}
                    if item["responses"][0] == "refuse"
                    else {"winner": None, "preference": [0, 0], "votes": {"1": 0, "2": 0, "invalid": 2}}
                    if item["responses"][0] == "invalid"
                    else {"winner": 1, "preference": [0.8, 0.2], "votes": {"1": 2, "2": 0, "invalid": 0}}
                    for item in body["items"]
                ]
                self._send(200, {"results": results})
            else:
                self._send(200, {"winner": 1, "preference": [0.8, 0.2], "votes": {"1": 2, "2": 0, "invalid": 0}})
        finally:
            with cls.lock:
                cls.in_flight -= 1

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/problem+json" if status >= 400 else "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[str]:
    _Fake.in_flight = _Fake.most = 0
    _Fake.delay = 0.0
    _Fake.seen = []
    _Fake.responses = []
    _Fake.release = threading.Event()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    _Fake.release.set()
    server.shutdown()
    server.server_close()


def test_trl_async_failed_judgements_are_none_not_zero(fake: str, trl: TrlLike) -> None:
    client = Client(fake, retry=RetryPolicy(attempts=2, base_delay=0.01))
    rows = [{"prompt": "ok", "ref": "r"}, {"prompt": "down", "ref": "r"}]
    reward = async_reward_function(client, reference_column="ref")
    rewards = trl.rewards(reward, grouped(rows, 3), ["good", "refuse", "invalid", "a", "b", "c"])
    assert rewards == [0.8, None, None, None, None, None], "a failed judgement is no reward, not a 0 or a 0.5"
    assert trl.metrics["r1judge/failed_fraction"] == [5 / 6]
    with pytest.raises(Exception, match="401"):
        trl.rewards(reward, grouped([{"prompt": "auth", "ref": "r"}], 2), ["a", "b"])
    with pytest.raises(KeyError):
        trl.rewards(async_reward_function(client, reference_column="nope"), grouped(rows, 1), ["a", "b"])


def test_trl_async_bounds_the_requests_in_flight_and_sends_one_per_group(fake: str, trl: TrlLike) -> None:
    _Fake.delay = 0.2
    reward = async_reward_function(Client(fake), reference_column="ref", max_concurrency=2)
    rows = [{"prompt": f"q{i}", "ref": "r"} for i in range(6)]
    rewards = trl.rewards(reward, grouped(rows, 4), ["x"] * 24)
    assert rewards == [0.8] * 24
    assert _Fake.most == 2, f"{_Fake.most} requests in flight, 2 allowed"
    assert sorted(set(_Fake.seen)) == [f"q{i}" for i in range(6)] and len(_Fake.seen) == 24


def test_empty_completions_get_the_floor_without_a_judgement(fake: str, trl: TrlLike) -> None:
    from r1judge_client.trl import reward_function

    client = Client(fake)
    rows = [{"prompt": "ok", "ref": "r"}]
    for fn in (async_reward_function(client, reference_column="ref"), reward_function(client, reference_column="ref")):
        _Fake.responses = []
        args = {"prompts": ["ok"] * 4, "completions": ["good", "", " \n", [{"role": "assistant", "content": ""}]]}
        got = (
            trl.rewards(fn, grouped(rows, 4), args["completions"])
            if inspect.iscoroutinefunction(fn)
            else fn(**args, ref=["r"] * 4)
        )
        assert got == [0.8, 0.0, 0.0, 0.0]
        assert _Fake.responses == ["good", "r"], "only the non-empty completion is judged"
    grouped_fn = async_reward_function(client, reference_column=None, empty_reward=-1.0)
    _Fake.responses = []
    got = trl.rewards(grouped_fn, grouped([{"prompt": "ok"}], 4), ["a", "", "b", "c"])
    assert got == [0.0, -1.0, 1 / 3, 2 / 3] and _Fake.responses == ["a", "b", "c"]
    judged_anyway = async_reward_function(client, reference_column="ref", empty_reward=None)
    assert trl.rewards(judged_anyway, grouped(rows, 2), ["", "x"]) == [0.8, 0.8]


# ---- AReaL ----


def chatml(question: str) -> str:
    system = "<|im_start|>system\nYou are helpful.<|im_end|>\n"
    return f"{system}<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


def areal_call(executor: ProcessPoolExecutor, fn: Any, *args: Any, **kwargs: Any) -> float:
    """AsyncRewardWrapper.__call__'s one try: the function in the process pool, under AReaL's 15 s."""

    async def one() -> float:
        future = asyncio.get_running_loop().run_in_executor(executor, partial(fn, *args, **kwargs))
        return await asyncio.wait_for(future, timeout=15)

    return asyncio.run(one())


@pytest.fixture(scope="module")
def pool(server_url: str) -> Iterator[ProcessPoolExecutor]:
    os.environ["R1JUDGE_URL"] = server_url  # the workers inherit it
    with ProcessPoolExecutor(max_workers=2) as executor:
        yield executor
    del os.environ["R1JUDGE_URL"]


def test_areal_reward_fn_by_name_in_a_process_pool(pool: ProcessPoolExecutor) -> None:
    reward_fn = importlib.import_module("r1judge_client.areal").reward_fn  # AReaL's import_from_string
    question = "Which is larger, 57 or 75? (areal)"
    row = {"messages": [{"role": "user", "content": question}], "answer": "57", "query_id": "7"}
    # RLVRWorkflow: positional, the completion decoded with its end-of-turn marker
    reward = areal_call(pool, reward_fn, chatml(question), "75<|im_end|>", [1, 2, 3], [4, 5], **row)
    assert isinstance(reward, float) and 0.0 <= reward <= 1.0
    # no messages in the row: the question comes from the rendered prompt
    reward = areal_call(pool, reward_fn, chatml(question), "75<|im_end|>", [1], [2], answer="57")
    assert 0.0 <= reward <= 1.0


def test_areal_vision_keywords_and_pil_images(pool: ProcessPoolExecutor, server_url: str) -> None:
    from PIL import Image

    image = Image.open(RED).convert("RGB")
    question = "What colour is the shape? (areal)"
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    rendered = chatml(f"<|vision_start|>{'<|image_pad|>' * 4}<|vision_end|>{question}")
    fn = RewardFunction(url=server_url, samples=2, timeout=10.0)
    reward = areal_call(
        pool,
        fn,
        prompt=rendered,
        completions="The shape is red.<|im_end|><|endoftext|>",
        prompt_ids=[1, 2],
        completion_ids=[3],
        messages=messages,
        images=[image],
        answer="The shape is blue.",
    )
    assert 0.0 <= reward <= 1.0


def test_areal_gives_up_before_areals_15_seconds(fake: str) -> None:
    assert DEFAULT_TIMEOUT < 15
    with pytest.raises(ValueError):
        RewardFunction(url=fake, timeout=15.0)
    fn = RewardFunction(url=fake, timeout=2.0)
    start = time.monotonic()
    with pytest.raises((TimeoutError, OSError)):
        fn("slow", "a", [], [], messages=[{"role": "user", "content": "slow down"}], answer="b")
    assert time.monotonic() - start < 5.0
    assert fn("p", "a<|im_end|>", [], [], messages=[{"role": "user", "content": "ok"}], answer="b") == 0.8
    _Fake.responses = []
    assert fn("p", " <|im_end|>", [], [], messages=[{"role": "user", "content": "ok"}], answer="b") == 0.0
    assert _Fake.responses == [], "an empty completion is not judged"
    with pytest.raises(KeyError, match="answer"):
        fn("p", "a", [], [], messages=[{"role": "user", "content": "ok"}])


def test_areal_prompt_and_completion_parsing() -> None:
    qwen = chatml("<|vision_start|><|image_pad|><|image_pad|><|vision_end|>What is 2 + 3?")
    assert question_from_rendered(qwen) == "What is 2 + 3?"
    llama = (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2 + 3?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert question_from_rendered(llama) == "What is 2 + 3?"
    assert question_from_rendered("What is 2 + 3?") == "What is 2 + 3?"
    assert response_text("5<|im_end|><|endoftext|><|endoftext|>") == "5"
    assert response_text(" 5 ") == "5"


def test_no_valid_vote_is_an_error_for_the_sync_functions_never_a_made_up_half(fake: str) -> None:
    """verl, AReaL and TRL's sync function have no 'no reward' value: a judgement whose every sample
    lacked a verdict raises (verl and AReaL retry or fail the step) instead of scoring 0.5."""
    client = Client(fake, retry=RetryPolicy(attempts=1))
    judged = reward_function(client, reference_column="ref")
    assert judged(["ok"], ["good"], ref=["r"]) == [0.8]
    with pytest.raises(RuntimeError, match="no sample gave a valid verdict"):
        judged(["ok"], ["invalid"], ref=["r"])
    with pytest.raises(RuntimeError, match="no sample gave a valid verdict"):
        verl_compute_score(
            solution_strs=["invalid"], ground_truths=["r"], extra_infos=[{"question": "ok"}], client=client
        )
