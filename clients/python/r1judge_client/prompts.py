"""Turning an RLHF library's prompt (plain text or chat messages) into the judge's question and images."""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

# A string longer than this is never a file name (Linux allows 255 bytes a name, 4096 a path).
_MAX_PATH = 4096
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
# The leading bytes of the image formats the server decodes, as base64 (PNG, JPEG, GIF, WebP/RIFF, BMP).
_IMAGE_PREFIXES = ("iVBORw0KGgo", "/9j/", "R0lGOD", "UklGR", "Qk")


def looks_like_base64_image(value: str) -> bool:
    """Base64 (standard or URL-safe alphabet, no line breaks) of a PNG, JPEG, GIF, WebP or BMP file."""
    return value.startswith(_IMAGE_PREFIXES) and len(value) >= 16 and _BASE64.fullmatch(value) is not None


def encode_image(value: Any) -> str | None:
    """An image as the server takes it (base64 or a data URL) from bytes, a path, a data URL, base64, a PIL
    image or a dict holding one of those (Hugging Face datasets' `{"bytes", "path"}`).

    A string is judged by its content first: a data URL, an http(s) URL or base64 of an image goes as is, of
    any size; only a string short enough to be a path that names an existing file is read from disk."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, os.PathLike):
        return base64.b64encode(Path(value).read_bytes()).decode()
    if isinstance(value, str):
        if value.startswith(("data:", "http://", "https://")) or looks_like_base64_image(value):
            return value
        if len(value) <= _MAX_PATH and "\0" not in value:
            try:
                path = Path(value)
                if path.is_file():
                    return base64.b64encode(path.read_bytes()).decode()
            except (OSError, ValueError):  # a name too long for this file system, not a path at all
                pass
        return value  # other base64: the server says whether it is an image
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
