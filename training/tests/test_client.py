"""The Python client (clients/python, r1judge_client) against the real server on the demo model: every
route, retries on 429/503 honouring Retry-After and never on other 4xx, chunking past the batch limit,
the TRL reward function (reference and group modes, chat and plain prompts, images), verl's
compute_score (single and batched) and OpenRLHF's request shapes."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from r1judge_client import Client, ProblemError, RetryPolicy
from r1judge_client.client import BATCH_LIMIT
from r1judge_client.trl import reward_function
from r1judge_client.verl import compute_score

ROOT = Path(__file__).resolve().parents[2]
RED = ROOT / "docs" / "examples" / "red-circle.png"


@pytest.fixture(scope="module")
def client(server_url: str) -> Client:
    return Client(server_url, max_concurrency=4)


def test_routes(client: Client) -> None:
    assert client.health()["status"] == "ok"
    assert client.ready()
    assert client.models()[0]["id"] == "r1judge-demo"
    assert "r1judge_batch_size" in client.metrics()
    answer = client.judge("Which is larger, 37 or 52?", ["52", "37"], samples=3, seed=1, early_stop=False)
    assert sum(answer["votes"].values()) == 3
    with_image = client.judge("What colour is the shape?", ["Red.", "Blue."], images=[str(RED)], seed=2)
    assert with_image["winner"] in (1, 2, None)
    ranked = client.rank("Which is larger?", ["12", "97", "45"], strategy="round_robin", seed=3)
    assert sorted(ranked["ranking"]) == [0, 1, 2]


def test_a_bad_request_raises_at_once_with_the_field(client: Client) -> None:
    with pytest.raises(ProblemError) as info:
        client.judge("q", ["a", "b"], samples=0)
    assert info.value.status == 400 and info.value.fields == ["samples"]


def test_judge_batch_past_the_item_limit_is_chunked_and_kept_in_order(client: Client) -> None:
    # Seeded identical items after the first come from the judgement cache: a big batch stays quick.
    items = [{"question": "Which is larger, 61 or 16?", "responses": ["61", "16"], "seed": 5}] * (BATCH_LIMIT + 4)
    items = [*items, {"question": "", "responses": ["a", "b"]}]
    results = client.judge_batch(items)
    assert len(results) == BATCH_LIMIT + 5
    assert all("winner" in r for r in results[:-1])
    assert results[-1]["status"] == 400  # one bad item fails alone, in its place


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 429 with Retry-After twice, then 200; /bad always 422."""

    calls = 0

    def do_POST(self) -> None:
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/bad":
            self._send(422, {"title": "Unprocessable", "errors": [{"field": "images[0]"}]})
        elif type(self).calls <= 2:
            self._send(429, {"title": "Queue full"}, {"Retry-After": "7"})
        else:
            self._send(200, {"ok": True})

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
def flaky() -> Iterator[str]:
    _Flaky.calls = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_retries_429_after_retry_after_and_never_other_4xx(flaky: str) -> None:
    waits: list[float] = []
    client = Client(flaky, sleep=waits.append, retry=RetryPolicy(attempts=5))
    assert client.request("POST", "/judge", {}) == {"ok": True}
    assert waits == [7.0, 7.0] and _Flaky.calls == 3
    with pytest.raises(ProblemError) as info:
        client.request("POST", "/bad", {})
    assert info.value.status == 422 and info.value.fields == ["images[0]"]
    assert _Flaky.calls == 4, "a 422 is not retried"
    gives_up = Client(flaky, sleep=waits.append, retry=RetryPolicy(attempts=2))
    _Flaky.calls = 0
    with pytest.raises(ProblemError) as busy:
        gives_up.request("POST", "/judge", {})
    assert busy.value.status == 429


def test_trl_reward_against_a_reference_chat_and_plain_prompts(client: Client) -> None:
    reward = reward_function(client, reference_column="reference", samples=4)
    prompts = [
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is the shape?"}]}],
        "Which is larger, 47 or 74?",
    ]
    completions = [[{"role": "assistant", "content": "The shape is red."}], "74"]
    image = base64.b64encode(RED.read_bytes()).decode()
    rewards = reward(prompts, completions, reference=["The shape is blue.", "47"], images=[[image], None])
    assert len(rewards) == 2 and all(0.0 <= r <= 1.0 for r in rewards)
    assert reward.__name__ == "r1judge"
    with pytest.raises(KeyError):
        reward(prompts, completions)


def test_trl_reward_within_each_prompts_group(client: Client) -> None:
    reward = reward_function(client, reference_column=None, samples=1)
    prompts = ["Which is larger, 12 or 93?"] * 3 + ["Which is larger, 5 or 50?"] * 2 + ["alone"]
    completions = ["93", "12", "both", "50", "5", "x"]
    rewards = reward(prompts, completions)
    assert len(rewards) == 6
    assert abs(sum(rewards[:3]) - 1.5) < 1e-9, "round robin win rates of a group of 3 sum to N/2"
    assert abs(sum(rewards[3:5]) - 1.0) < 1e-9
    assert rewards[5] == 0.5, "a prompt with one completion has nothing to be compared with"


def test_verl_compute_score_single_and_batched(client: Client) -> None:
    one = compute_score("demo", "74", "47", {"question": "Which is larger, 47 or 74?"}, client=client)
    assert isinstance(one, float) and 0.0 <= one <= 1.0
    many = compute_score(
        data_sources=["demo", "demo"],
        solution_strs=["74", "The shape is red."],
        ground_truths=["47", "The shape is blue."],
        extra_infos=[{"question": "Which is larger, 47 or 74?"}, {"prompt": "What colour?", "images": [str(RED)]}],
        client=client,
    )
    assert isinstance(many, list) and len(many) == 2
    with pytest.raises(KeyError):
        compute_score("demo", "74", "47", {}, client=client)


def test_openrlhf_shapes_one_item_and_a_batch_past_256(client: Client) -> None:
    prompt = "<|im_start|>user\nWhich is larger, 47 or 74?<|im_end|>\n<|im_start|>assistant\n"
    one = client.get_reward([prompt + "74<|im_end|>"], [prompt], ["74"])
    assert len(one) == 1 and isinstance(one[0], float)
    n = 260
    rewards = client.get_reward([prompt + "74<|im_end|>"] * n, [prompt] * n, ["74"] * n)
    assert len(rewards) == n and all(isinstance(r, float) for r in rewards)
