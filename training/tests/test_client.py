"""The Python client (clients/python, r1judge_client) against the real server on the demo model: every
route, retries on 429/503 honouring Retry-After and never on other 4xx, chunking past the batch limit,
the TRL reward function (reference and group modes, chat and plain prompts, images), verl's
compute_score (single and batched, loaded by path as verl loads it, reward_kwargs), OpenRLHF's request
shapes, base64 images of any size, get_reward's sampling fields and ready() within its timeout. The
async TRL and the AReaL functions, called as those frameworks call them: test_client_frameworks.py."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

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


# ---- client fixes (issue 20): each of these failed before its fix ----


def noise_png(side: int = 96) -> bytes:
    """A PNG that does not compress: ~27 KB, far past the ~4 KB at which a base64 string used to be taken
    for a file name (OSError: File name too long)."""
    import io
    import random

    from PIL import Image

    rng = random.Random(20)
    image = Image.frombytes("RGB", (side, side), bytes(rng.randrange(256) for _ in range(side * side * 3)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_base64_images_of_any_size_and_every_other_form(tmp_path: Path) -> None:
    import io

    from PIL import Image
    from r1judge_client.prompts import encode_image, question_and_images

    data = noise_png()
    big = base64.b64encode(data).decode()
    assert len(big) > 30_000
    assert encode_image(big) == big, "base64 goes as is, never to the file system"
    url = "data:image/png;base64," + big
    assert encode_image(url) == url
    assert encode_image(base64.urlsafe_b64encode(data).decode()) == base64.urlsafe_b64encode(data).decode()
    assert encode_image("x" * 10_000) == "x" * 10_000, "not an image: the server decides, no OSError"
    file = tmp_path / "noise.png"
    file.write_bytes(data)
    for form in (data, bytearray(data), file, str(file), {"bytes": data}, {"path": str(file)}):
        assert encode_image(form) == big
    with Image.open(file) as opened:
        again = Image.open(io.BytesIO(base64.b64decode(encode_image(opened) or "")))
        assert again.tobytes() == opened.tobytes(), "a PIL image goes as a PNG of the same pixels"
    prompt = [{"role": "user", "content": [{"type": "image", "image": big}, {"type": "text", "text": "Colour?"}]}]
    assert question_and_images(prompt) == ("Colour?", [big])
    assert question_and_images("Colour?", [big]) == ("Colour?", [big])


def test_a_big_base64_image_is_judged(client: Client) -> None:
    big = base64.b64encode(noise_png()).decode()
    answer = client.judge("What is in the picture?", ["Noise.", "A cat."], images=[big])
    assert answer["votes"]["1"] + answer["votes"]["2"] + answer["votes"]["invalid"] == 1


_VERDICT = {"winner": 1, "preference": [0.75, 0.25], "votes": {"1": 3, "2": 1, "invalid": 0}}


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Records each request; /readyz answers 503 with Retry-After: 5; /hang never answers in time."""

    bodies: ClassVar[list[tuple[str, dict]]] = []

    def do_GET(self) -> None:
        type(self).bodies.append((self.path, {}))
        if self.path == "/hang":
            threading.Event().wait(10)
            return  # the client gave up long ago: nothing to answer
        self._send(503, {"title": "Not ready", "status": 503}, {"Retry-After": "5"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        type(self).bodies.append((self.path, body))
        if self.path == "/get_reward":
            self._send(200, {"rewards": [1.0] * len(body["query"])})
        elif self.path == "/judge":
            self._send(200, _VERDICT)
        elif self.path == "/judge/batch":
            self._send(200, {"results": [_VERDICT] * len(body["items"])})
        else:
            self._send(404, {"title": "Not found"})

    _send = _Flaky._send
    log_message = _Flaky.log_message


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_get_reward_sends_samples_seed_and_timeout_ms(recorder: str, client: Client) -> None:
    prompt = "<|im_start|>user\nWhich is larger, 83 or 38?<|im_end|>\n<|im_start|>assistant\n"
    fake = Client(recorder)
    assert fake.get_reward([prompt + "83<|im_end|>"], [prompt], ["83"], samples=3, seed=9, timeout_ms=5000) == [1.0]
    body = _Recorder.bodies[-1][1]
    assert (body["samples"], body["seed"], body["timeout_ms"]) == (3, 9, 5000)
    fake.get_reward([prompt + "83<|im_end|>"], [prompt], ["83"])
    assert not {"samples", "seed", "timeout_ms"} & set(_Recorder.bodies[-1][1]), "left out: the server's defaults"
    # The real server takes them: a seeded 3-vote reward is a vote share, and 65 votes are refused by field.
    (reward,) = client.get_reward([prompt + "83<|im_end|>"], [prompt], ["38"], samples=3, seed=4, timeout_ms=60_000)
    assert 0.0 <= reward <= 1.0
    with pytest.raises(ProblemError) as info:
        client.get_reward([prompt + "83<|im_end|>"], [prompt], ["38"], samples=65)
    assert info.value.fields == ["samples"]


def test_ready_answers_within_its_timeout(recorder: str) -> None:
    import socket
    import time

    client = Client(recorder)  # the default retry policy: 8 attempts, honouring Retry-After
    start = time.monotonic()
    assert client.ready() is False
    assert time.monotonic() - start < 3.0, "a 503 with Retry-After: 5 is the answer, not a reason to wait"
    assert [p for p, _ in _Recorder.bodies] == ["/readyz"]
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    start = time.monotonic()
    assert Client(closed).ready(timeout=1.0) is False
    assert time.monotonic() - start < 3.0


def test_ready_times_out_on_a_server_that_does_not_answer(recorder: str) -> None:
    import time

    class Hang(Client):
        def request(self, method: str, path: str, body: object = None, **kw: object) -> object:
            return super().request(method, "/hang" if path == "/readyz" else path, body, **kw)

    start = time.monotonic()
    assert Hang(recorder).ready(timeout=1.0) is False
    assert time.monotonic() - start < 4.0


VERL_PY = ROOT / "clients" / "python" / "r1judge_client" / "verl.py"


def load_like_verl(path: Path, name: str | None = None) -> object:
    """verl/utils/import_utils.py load_module: spec_from_file_location under a name of its own (older
    versions: "custom_module"), module_from_spec, exec_module; not added to sys.modules."""
    import importlib.util
    import os

    spec = importlib.util.spec_from_file_location(name or f"custom_module_{hash(os.path.abspath(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def verl_reward_fn(path: Path, reward_kwargs: dict) -> object:
    """verl/trainer/ppo/reward.py get_custom_reward_fn: the function with reward_kwargs merged over the
    call's keywords (reward_kwargs win)."""
    raw_fn = load_like_verl(path).compute_score  # type: ignore[attr-defined]

    def call(*args: object, **kwargs: object) -> object:
        return raw_fn(*args, **{**kwargs, **reward_kwargs})

    return call


def test_verl_loads_the_documented_file_by_path_as_verl_does() -> None:
    import subprocess
    import sys

    for name in ("custom_module", None):
        module = load_like_verl(VERL_PY, name)
        assert callable(module.compute_score)  # type: ignore[attr-defined]
    # Not installed at all (no site-packages, no PYTHONPATH): the file finds its package next to itself.
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('custom_module', {str(VERL_PY)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(module.compute_score.__name__)\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "compute_score"


def test_verl_reward_kwargs_are_honoured_and_unknown_ones_refused(recorder: str) -> None:
    fn = verl_reward_fn(VERL_PY, {"url": recorder, "samples": 3, "timeout": 5, "timeout_ms": 4000, "seed": 2})
    # the reward loop's keywords, with its own extras when a reward router is configured
    score = fn(
        data_source="demo",
        solution_str="74",
        ground_truth="47",
        extra_info={"question": "Which is larger, 47 or 74?"},
        reward_router_address="127.0.0.1:9",
        reward_model_tokenizer=None,
    )
    assert score == 0.75
    path, body = _Recorder.bodies[-1]
    assert path == "/judge" and (body["samples"], body["seed"], body["timeout_ms"]) == (3, 2, 4000)
    assert body["early_stop"] is False, "a reward counts every vote, both orders alike"
    batched = fn(data_sources=["demo"], solution_strs=["74"], ground_truths=["47"], extra_infos=[{"question": "q"}])
    assert batched == [0.75] and _Recorder.bodies[-1][0] == "/judge/batch"
    assert _Recorder.bodies[-1][1]["items"][0]["samples"] == 3
    before = len(_Recorder.bodies)
    assert fn("demo", "  ", "47", {"question": "q"}) == 0.0, "an empty solution gets the floor, unjudged"
    assert verl_reward_fn(VERL_PY, {"url": recorder, "empty_reward": -1})("demo", "", "47", {}) == -1.0
    assert fn(
        data_sources=["d"] * 2, solution_strs=["", "74"], ground_truths=["47"] * 2, extra_infos=[{"question": "q"}] * 2
    ) == [0.0, 0.75]
    assert len(_Recorder.bodies) == before + 1 and len(_Recorder.bodies[-1][1]["items"]) == 1
    with pytest.raises(TypeError, match="sample"):
        verl_reward_fn(VERL_PY, {"url": recorder, "sample": 3})("demo", "74", "47", {"question": "q"})


def test_verl_through_verls_loader_against_the_real_server(server_url: str) -> None:
    fn = verl_reward_fn(VERL_PY, {"url": server_url, "samples": 2, "timeout": 120})
    score = fn(
        data_source="demo", solution_str="91", ground_truth="19", extra_info={"question": "Which is larger, 19 or 91?"}
    )
    assert isinstance(score, float) and 0.0 <= score <= 1.0
