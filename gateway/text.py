"""Where the text of a request or a response is: the one reader of OpenAI's content shapes (the Responses
API's `input` and `output` included).

A message's `content` is a string or a list of parts (`{"type": "text", "text": …}`; other parts carry
no text); a completion's `prompt` and an embedding's `input` are a string, a list of strings, a list of
token ids, or a list of such lists. Token ids are returned as counts, since they are tokens already.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.endpoints import Endpoint


def content_texts(content: Any) -> Iterator[str]:
    """The text pieces of one message's `content`."""
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                yield part
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part["text"]


def prompt_pieces(endpoint: Endpoint, payload: dict[str, Any]) -> tuple[list[str], int]:
    """(text pieces, pre-tokenised token ids) of a request's prompt: messages, prompt or input."""
    if endpoint is Endpoint.CHAT:
        texts: list[str] = []
        for message in payload.get("messages") or ():
            if isinstance(message, dict):
                texts.extend(content_texts(message.get("content")))
        return texts, 0
    value = payload.get("prompt" if endpoint is Endpoint.COMPLETIONS else "input")
    texts, ids = [], 0
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            ids += 1
        elif isinstance(item, list):
            ids += sum(1 for token in item if isinstance(token, int) and not isinstance(token, bool))
    return texts, ids


def choice_text(choice: Any) -> str:
    """The generated text of one choice: a chat `message`, a stream `delta`, or a completion's `text`."""
    if not isinstance(choice, dict):
        return ""
    for field in ("message", "delta"):
        holder = choice.get(field)
        if isinstance(holder, dict):
            return "".join(content_texts(holder.get("content")))
    text = choice.get("text")
    return text if isinstance(text, str) else ""


def completion_text(data: Any) -> str:
    """All generated text of a response body or a stream chunk."""
    if not isinstance(data, dict):
        return ""
    choices = data.get("choices")
    return "".join(choice_text(choice) for choice in choices) if isinstance(choices, list) else ""


def input_text(value: Any) -> str:
    """The text of a request's `input`: a string, or messages whose `content` is a string or text parts."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return ""
    return "\n".join("".join(content_texts(item.get("content"))) for item in value if isinstance(item, dict))


def output_text(response: Any) -> str:
    if not isinstance(response, dict) or not isinstance(response.get("output"), list):
        return ""
    return "".join(
        part.get("text", "")
        for item in response["output"]
        if isinstance(item, dict) and isinstance(item.get("content"), list)
        for part in item["content"]
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    )
