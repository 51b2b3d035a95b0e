"""Turning an RLHF library's prompt (plain text or chat messages) into the judge's question and images."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any


def encode_image(value: Any) -> str | None:
    """An image as the server takes it (base64 or a data URL) from bytes, a path, a data URL or a PIL image."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, str):
        if value.startswith("data:"):
            return value
        path = Path(value)
        return base64.b64encode(path.read_bytes()).decode() if path.is_file() else value
    if hasattr(value, "save"):  # a PIL image
        import io

        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return base64.b64encode(buffer.getvalue()).decode()
    if isinstance(value, dict):
        return encode_image(value.get("bytes") or value.get("path") or value.get("url") or value.get("image"))
    return None


def question_and_images(prompt: Any, images: Any = None) -> tuple[str, list[str]]:
    """The last user turn's text (all text parts) and the images of a chat prompt, or a plain prompt as is.

    `images`: an explicit list (TRL's `images` column) that takes precedence over image parts."""
    found: list[str] = []
    if isinstance(prompt, str):
        question = prompt
    else:
        user = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        content = user[-1].get("content", "") if user else ""
        if isinstance(content, str):
            question = content
        else:
            texts = []
            for part in content:
                if part.get("type") == "text":
                    texts.append(str(part.get("text", "")))
                elif part.get("type") in ("image", "image_url"):
                    ref = part.get("image") or part.get("image_url")
                    encoded = encode_image(ref.get("url") if isinstance(ref, dict) else ref)
                    if encoded:
                        found.append(encoded)
            question = "\n".join(t for t in texts if t)
    if images is not None:
        listed = images if isinstance(images, (list, tuple)) else [images]
        found = [e for e in (encode_image(i) for i in listed) if e]
    return question, found


def completion_text(completion: Any) -> str:
    """A TRL completion: a string, or a list of messages (the assistant's text)."""
    if isinstance(completion, str):
        return completion
    parts = []
    for message in completion:
        content = message.get("content", "") if isinstance(message, dict) else str(message)
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(str(p.get("text", "")) for p in content if p.get("type") == "text")
    return "".join(parts)
