"""`r1judge-train sft --config FILE`: a run file trains the cold start and leaves a `final/` (weights and
tokenizer, what an RL run file names as its `model`); a wrong file names the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1judge_train.data.records import read_dataset, write_dataset
from r1judge_train.rl_run import RunConfigError
from r1judge_train.sft_run import load_sft_run, run_sft
from r1judge_train.tokenizer.qwen import load_tokenizer, save_tokenizer, train_tokenizer


@pytest.mark.slow
def test_a_run_file_trains_and_saves_the_policy_with_its_tokenizer(tmp_path: Path) -> None:
    write_dataset(tmp_path / "data", {"train": 8, "val": 2, "test": 2}, seed=3)
    items = read_dataset(tmp_path / "data" / "train.jsonl")
    corpus = [t for i in items for t in (i.question, *i.responses, i.trace)]
    save_tokenizer(train_tokenizer(corpus, vocab_size=400), tmp_path / "tok", max_length=2048)
    file = tmp_path / "sft.yaml"
    file.write_text(  # paths relative to the file; 1e-3 unquoted, as a person writes it
        "data: data/train.jsonl\ntokenizer: tok\noutput_dir: out\n"
        "settings: {max_steps: 2, batch_size: 2, learning_rate: 1e-3, logging_steps: 1}\n"
    )
    summary = run_sft(load_sft_run(file))
    final = Path(summary["final"])
    assert summary["steps"] == 2 and final == tmp_path / "out" / "final"
    assert (final / "model.safetensors").is_file()
    vocab = load_tokenizer(tmp_path / "tok").tokenizer.get_vocab_size()
    assert load_tokenizer(final).tokenizer.get_vocab_size() == vocab


def test_a_wrong_run_file_names_the_key(tmp_path: Path) -> None:
    file = tmp_path / "sft.yaml"
    file.write_text("data: d\ntokenizer: t\noutput_dir: o\nsetings: {}\n")
    with pytest.raises(RunConfigError, match="setings: unknown key"):
        load_sft_run(file)
    file.write_text("data: d\ntokenizer: t\n")
    with pytest.raises(RunConfigError, match="output_dir: required"):
        load_sft_run(file)
