"""The StableReinforce reward: format, accuracy and consistency combined as R1-Reward defines them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from r1judge_train.data.teacher import teacher_trace
from r1judge_train.rewards.referee import ChatReferee, RefereeError, RuleReferee, last_lines, parse_referee_reply
from r1judge_train.rewards.stable_reinforce import StableReinforceReward

RIGHT = teacher_trace("add", "12", ["11", "12"], (5, 7))  # …Response 2 says 12, which is correct.…<answer>2</answer>


def test_the_combined_reward_on_each_kind_of_output() -> None:
    reward = StableReinforceReward(RuleReferee())
    inconsistent = RIGHT.replace("Response 1 says 11, which is wrong", "Response 1 says 11, which is correct").replace(
        "Response 2 says 12, which is correct", "Response 2 says 12, which is wrong"
    )
    cases = {
        RIGHT: 2.0,  # 0.5 format + 1 · (1 + 0.5)
        RIGHT.replace("<answer>2</answer>", "<answer>1</answer>"): 0.5,  # wrong: format only
        inconsistent: 1.0,  # right answer, reasoning says the other: 0.5 + 1 · (1 − 0.5)
        RIGHT + "\n": 1.5,  # trailing text breaks the format; still right and consistent
        RIGHT.replace("</think>", ""): 1.5,  # no closing tag: format 0, the verdict still counts
        "<think>x</think><answer>2</answer><answer>2</answer>": 0.0 + 1.0 * (1 - 0.5),  # two answer tags
        "garbage": 0.0,
    }
    scores = reward(prompts=[""] * len(cases), completions=list(cases), label=[2] * len(cases))
    assert scores == pytest.approx(list(cases.values()))


def test_conversational_completions_and_metrics() -> None:
    logged: dict[str, float] = {}
    reward = StableReinforceReward(RuleReferee())
    scores = reward(
        prompts=[[{"role": "user", "content": "q"}]],
        completions=[[{"role": "assistant", "content": RIGHT}]],
        label=[2],
        log_metric=lambda name, value: logged.__setitem__(name, value),
    )
    assert scores == [2.0]
    assert logged == {
        "reward/format": 1.0,
        "reward/accuracy": 1.0,
        "reward/consistency": 1.0,
        "reward/referee_failures": 0.0,
    }
    assert reward.__name__ == "stable_reinforce"
    with pytest.raises(ValueError, match="label"):
        reward(prompts=[""], completions=[RIGHT])


def test_the_rule_referee_reads_the_demo_traces() -> None:
    referee = RuleReferee()
    assert referee("5 + 7 = 12. Response 1 says 11, which is wrong. Response 2 says 12, which is correct.", 2) == 1
    assert referee("5 + 7 = 12. Response 1 says 11, which is wrong. Response 2 says 12, which is correct.", 1) == -1
    assert referee("Response 1 says 3, which is correct. Response 2 says 3, which is correct.", 1) == -1
    assert referee("no conclusion at all", 2) == -1


def test_last_lines_and_reply_parsing() -> None:
    assert last_lines("a\nb\n\nc\nd") == "b\nc\nd"
    assert last_lines("One. Two. Three. Four.") == "Two.\nThree.\nFour."
    assert parse_referee_reply("Yes.") == 1
    assert parse_referee_reply(" no, it does not") == -1
    with pytest.raises(RefereeError):
        parse_referee_reply("maybe")


class _Endpoint(BaseHTTPRequestHandler):
    replies: ClassVar[list[tuple[int, str]]] = []
    seen: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Endpoint.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        status, content = _Endpoint.replies.pop(0) if _Endpoint.replies else (200, "yes")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode())

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Endpoint.replies, _Endpoint.seen = [], []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_the_chat_referee_asks_an_openai_compatible_endpoint(endpoint: str) -> None:
    referee = ChatReferee(endpoint, "referee-model", api_key="k", tries=3)
    _Endpoint.replies = [(200, "Yes"), (200, "No.")]
    assert referee("Response 2 is better.", 2) == 1
    assert referee("Response 1 is better.", 2) == -1
    sent = _Endpoint.seen[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["auth"] == "Bearer k"
    assert sent["model"] == "referee-model" and sent["temperature"] == 0.1
    assert "Response 2" in sent["messages"][0]["content"]


def test_referee_failures_count_as_zero_and_are_counted(endpoint: str) -> None:
    _Endpoint.replies = [(500, "x"), (200, "perhaps"), (200, "hmm")] * 2
    reward = StableReinforceReward(ChatReferee(endpoint, "m", tries=3))
    logged: dict[str, float] = {}
    scores = reward(
        prompts=["", ""],
        completions=[RIGHT, RIGHT.replace("<answer>2</answer>", "<answer>1</answer>")],
        label=[2, 2],
        log_metric=lambda name, value: logged.__setitem__(name, value),
    )
    # Right, format ok, referee failed: 0.5 + 1·(1 + 0) = 1.5; wrong: the referee is not asked.
    assert scores == [1.5, 0.5]
    assert reward.referee_failures == 1
    assert logged["reward/referee_failures"] == 1.0
    assert len(_Endpoint.seen) == 3
