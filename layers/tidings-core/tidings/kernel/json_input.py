"""Client JSON that the server can use, or a message saying which field it cannot.

Both edges (WebSocket frames, REST bodies) parse client text here, so every handler behind them
only ever sees JSON that can be stored and sent back:
- nested at most `MAX_DEPTH` levels (deeper input would exhaust the parser's or a serializer's
  recursion limit somewhere downstream);
- no lone surrogate (`"\\ud800"`) in any string or key: JSON allows the escape, but such a string
  cannot be encoded as UTF-8, so it can be neither stored (DynamoDB strings are UTF-8) nor sent;
- no `NaN`/`Infinity` (not JSON, though Python's parser accepts them).
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


class UnusableJson(ValueError):
    """The text is not JSON the server can use; the message names the field, `path` is where it
    is (empty for the whole text)."""

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


class NotJson(UnusableJson):
    """The text does not parse as JSON at all."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Any:
    """The parsed value, or UnusableJson naming what is wrong (and where)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise UnusableJson(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise NotJson("not valid JSON") from None
    problem = unusable_field(value)
    if problem is not None:
        raise UnusableJson(*problem)
    return value


def unusable_field(value: Any) -> tuple[str, tuple[str, ...]] | None:
    """`("<path>: <what>", path)` for the first field the server cannot use, else None.
    Iterative, so no input can exhaust the stack here."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return f"{field_name(path[:MAX_DEPTH])}: nested deeper than {MAX_DEPTH} levels", path[:MAX_DEPTH]
        if isinstance(node, str):
            if not encodable(node):
                return f"{field_name(path)}: contains a lone surrogate, which is not valid Unicode text", path
        elif isinstance(node, dict):
            for key, item in node.items():
                if not encodable(key):
                    return f"{field_name(path)}: a key contains a lone surrogate, which is not valid Unicode text", path
                stack.append((item, (*path, key)))
        elif isinstance(node, list):
            stack.extend((item, (*path, str(index))) for index, item in enumerate(node))
    return None


def encodable(text: str) -> bool:
    """True when `text` can be encoded as UTF-8 (it holds no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def field_name(path: tuple[str, ...]) -> str:
    """A dotted path for messages: `payload.attachments.0.name`; `(root)` for the whole value."""
    return ".".join(part if len(part) <= 64 else part[:63] + "…" for part in path) if path else "(root)"


def utf8_size(text: str) -> int:
    """Bytes of `text` in UTF-8; a lone surrogate counts as the 3 bytes it would take."""
    return len(text.encode("utf-8", errors="surrogatepass"))
