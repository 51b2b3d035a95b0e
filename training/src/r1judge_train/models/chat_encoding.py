"""The one rule for a judging prompt's token ids, shared by training, evaluation and serving.

Only the chat template may produce control tokens. The messages' text (question, responses) is
tokenized with special tokens as plain text (transformers' `split_special_tokens=True`), so a
`<|im_end|>` or `<|image_pad|>` typed in a response stays characters the judge reads: it cannot
close the user turn or claim an image. Non-special added tokens (Qwen3's `<think>`) stay ordinary
vocabulary. For text without special-token strings the ids equal those of tokenizing the rendered
prompt as a whole.

This is the Python twin of `TextCodec.encodeChat` in src/engine/tokenizer.ts, step for step: the
golden fixtures compare the two on prompts holding special-token strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer

IMAGE_PAD = "<|image_pad|>"

_JINJA = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)


def render_chat(template: str, messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> str:
    """The chat template rendered the way transformers renders it (sandboxed, trim/lstrip blocks)."""
    return _JINJA.from_string(template).render(messages=messages, add_generation_prompt=add_generation_prompt)


@dataclass
class _Text:
    text: str


@dataclass(frozen=True)
class _Token:
    content: str
    id: int
    lstrip: bool
    rstrip: bool


_Piece = _Text | _Token


_Matcher = dict[str, list[_Token]]


def _matchers(tokenizer: Tokenizer) -> tuple[_Matcher, _Matcher]:
    """Added tokens by first character, longest first (at each position the longest match wins, as
    in tokenizers): every added token (what the template may emit), and the non-special ones only
    (ordinary vocabulary, matched in message text too)."""
    every: _Matcher = {}
    ordinary: _Matcher = {}
    decoder = tokenizer.get_added_tokens_decoder()
    for i, t in sorted(decoder.items(), key=lambda item: -len(item[1].content)):
        token = _Token(t.content, i, t.lstrip, t.rstrip)
        every.setdefault(t.content[0], []).append(token)
        if not t.special:
            ordinary.setdefault(t.content[0], []).append(token)
    return every, ordinary


def _split(text: str, tokens: _Matcher, pieces: list[_Piece]) -> None:
    """Appends `text` to `pieces`, split at the added tokens in `tokens`."""
    start = i = 0
    while i < len(text):
        match = next((t for t in tokens.get(text[i], ()) if text.startswith(t.content, i)), None)
        if match is None:
            i += 1
            continue
        if i > start:
            _append_text(pieces, text[start:i])
        pieces.append(match)
        i += len(match.content)
        start = i
    if start < len(text):
        _append_text(pieces, text[start:])


def _append_text(pieces: list[_Piece], text: str) -> None:
    # Adjacent plain runs join: a template part and the message text after it are one run of text,
    # pre-tokenized together exactly as when the rendered prompt is tokenized as a whole.
    if pieces and isinstance(pieces[-1], _Text):
        pieces[-1].text += text
    else:
        pieces.append(_Text(text))


def _marker(texts: Sequence[str]) -> str:
    """A private-use character none of the texts holds, to find where the template put each text."""
    joined = "".join(texts)
    for code in range(0xE000, 0xF900):
        if chr(code) not in joined:
            return chr(code)
    raise ValueError("the message text uses every private-use character")


def _message_texts(messages: Sequence[dict[str, Any]]) -> list[str]:
    texts = []
    for m in messages:
        content = m["content"]
        if isinstance(content, str):
            texts.append(content)
        else:
            texts.extend(c["text"] for c in content if c.get("type") == "text")
    return texts


def _with_placeholders(messages: Sequence[dict[str, Any]], marker: str) -> list[dict[str, Any]]:
    count = 0

    def placeholder() -> str:
        nonlocal count
        count += 1
        return f"{marker}{count - 1}{marker}"

    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, str):
            out.append({**m, "content": placeholder()})
        else:
            parts = [{**c, "text": placeholder()} if c.get("type") == "text" else c for c in content]
            out.append({**m, "content": parts})
    return out


@dataclass(frozen=True)
class ChatEncoding:
    text: str  # the rendered prompt with expanded image pads
    input_ids: list[int]


def encode_chat(
    tokenizer: Tokenizer,
    chat_template: str,
    messages: Sequence[dict[str, Any]],
    image_pads: Sequence[int] = (),
    add_generation_prompt: bool = True,
) -> ChatEncoding:
    """The rendered chat and its ids, message text as plain text; the template's k-th `<|image_pad|>`
    becomes `image_pads[k]` pads (one per merged patch of image k)."""
    texts = _message_texts(messages)
    marker = _marker(texts)
    rendered = render_chat(chat_template, _with_placeholders(messages, marker), add_generation_prompt)
    parts = rendered.split(marker)
    # parts alternate: template, text index, template, text index, …, template.
    if len(parts) != 2 * len(texts) + 1:
        raise ValueError("the chat template did not place each message text exactly once")
    every, ordinary = _matchers(tokenizer)
    pieces: list[_Piece] = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            _split(part, every, pieces)
        else:
            _split(texts[int(part)], ordinary, pieces)
    pieces = _expand_image_pads(pieces, image_pads, tokenizer.token_to_id(IMAGE_PAD))
    text = "".join(p.content if isinstance(p, _Token) else p.text for p in pieces)
    return ChatEncoding(text, _encode_pieces(tokenizer, pieces))


def _expand_image_pads(pieces: list[_Piece], image_pads: Sequence[int], pad_id: int | None) -> list[_Piece]:
    out: list[_Piece] = []
    image = 0
    for piece in pieces:
        if not isinstance(piece, _Token) or piece.id != pad_id:
            out.append(piece)
            continue
        if image >= len(image_pads):
            raise ValueError(f"the prompt has image placeholders but only {len(image_pads)} images were given")
        out.extend([piece] * image_pads[image])
        image += 1
    if image != len(image_pads):
        raise ValueError(f"the prompt has {image} image placeholders for {len(image_pads)} images")
    return out


def _encode_pieces(tokenizer: Tokenizer, pieces: list[_Piece]) -> list[int]:
    """What tokenizers does per section once added tokens are split out, without splitting more:
    normalizer, pre-tokenizer and model on each text run, the added tokens' own ids between."""
    for i, piece in enumerate(pieces):
        if not isinstance(piece, _Token):
            continue
        before = pieces[i - 1] if i > 0 else None
        after = pieces[i + 1] if i + 1 < len(pieces) else None
        if piece.lstrip and isinstance(before, _Text):
            before.text = before.text.rstrip()
        if piece.rstrip and isinstance(after, _Text):
            after.text = after.text.lstrip()
    ids: list[int] = []
    for piece in pieces:
        if isinstance(piece, _Token):
            ids.append(piece.id)
            continue
        text = tokenizer.normalizer.normalize_str(piece.text) if tokenizer.normalizer else piece.text
        if not text:
            continue
        words = tokenizer.pre_tokenizer.pre_tokenize_str(text) if tokenizer.pre_tokenizer else [(text, (0, 0))]
        for word, _ in words:
            ids.extend(token.id for token in tokenizer.model.tokenize(word))
    return ids
