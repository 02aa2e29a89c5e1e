"""Hypothesis strategies for hostile client input: raw text, JSON values no schema expects, and
payloads shaped like a pydantic model with hostile values in every field.

Payload shapes come from the models themselves (`model_payloads`), so a field or a route added
later is fuzzed without touching this file.
"""

from __future__ import annotations

import base64
import json
import time
import types
import typing
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

# The world the fuzz tests seed (tests/fuzz/conftest.py): values that reach past validation.
USERS = ["alice", "bob", "carol", "dave", "erin"]
CHATS = ["general", "project-x", "dm-alice-bob"]

EDGE_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate: valid JSON escape, not valid Unicode text
    "x\udfffy",
    "\u202e\u2066",
    "\ufeff",
    "💥" * 40,
    "<script>alert(1)</script>",
    "'; DROP TABLE users; --",
    '"quoted" NEAR(a b) OR * ^col:x',
    "../../etc/passwd",
    "%00%2e%2e",
    "NaN",
    "a" * 129,
    "é" * 4000,
    "x" * 17_000,
    "from:alice in:general before:2026-13-45 during:never has:attachment mentions:me",
    "general",
    "project-x",
    "alice",
]
EDGE_INTS = [
    -1,
    0,
    1,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**38,
    10**39,
    10**400,
]

surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
hostile_text = st.one_of(
    st.sampled_from(EDGE_STRINGS),
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8") | surrogates, max_size=20),
    st.sampled_from(CHATS + USERS),
)
hostile_ints = st.one_of(st.sampled_from(EDGE_INTS), st.integers(), st.integers(min_value=0, max_value=20))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    hostile_ints,
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
# What an HTTP path, query string or header can carry: UTF-8 text (no lone surrogate).
http_text = hostile_text.filter(lambda text: text == text.encode("utf-8", "replace").decode("utf-8"))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4),
    max_leaves=12,
)


def dumps(value: Any, ascii_only: bool) -> str:
    """JSON text as a client would send it. Text with a lone surrogate always travels as its
    `\\ud800` escape: a WebSocket text frame (and an HTTP body) is UTF-8, which cannot hold one."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=True)
    return text


@st.composite
def json_text(draw: st.DrawFn, values: st.SearchStrategy[Any] = json_values) -> str:
    return dumps(draw(values), ascii_only=draw(st.booleans()))


# Mostly a good id, so that most examples get past the envelope to the payload.
frame_ids = st.one_of(st.uuids().map(str), st.uuids().map(str), st.uuids().map(str), hostile_text)


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def raw_texts(frame_types: list[str]) -> st.SearchStrategy[str]:
    """Text that is not a frame the server can use: not JSON, deep, huge numbers, NaN, junk."""
    frame_type = st.sampled_from([*frame_types, "ping", "no.such.type", ""])
    return st.one_of(
        st.text(max_size=200),
        json_text(),
        st.integers(min_value=1, max_value=3000).map(nested),
        st.builds(
            lambda t, depth: f'{{"type": "{t}", "id": "deep", "payload": {{"x": {nested(depth)}}}}}',
            frame_type,
            st.integers(min_value=1, max_value=3000),
        ),
        st.builds(
            lambda t, digits: (
                f'{{"type": "{t}", "id": "n", "payload": {{"lastKnownSeq": 1{"0" * digits}, "limit": 1}}}}'
            ),
            frame_type,
            st.integers(min_value=18, max_value=6000),
        ),
        st.builds(
            lambda t, constant: f'{{"type": "{t}", "id": "c", "payload": {{"limit": {constant}}}}}',
            frame_type,
            st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-0", "1.5e-400"]),
        ),
        st.builds(lambda t, junk: f'{{"type": "{t}", "id": "{junk}"', frame_type, st.text(max_size=10)),
    )


def envelopes(frame_types: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Frame envelopes with a wrong, missing or hostile value in each field."""
    maybe_missing = st.none() | json_values
    return st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(frame_types) | maybe_missing,
            "id": st.uuids().map(str) | maybe_missing,
            "timestamp": st.just("2026-11-25T10:00:00.000Z") | maybe_missing,
            "payload": st.dictionaries(hostile_text, json_values, max_size=3) | maybe_missing,
        },
    )


# --- opaque values a client might forge -----------------------------------------------------


def base64url_json(value: Any) -> str:
    return base64.urlsafe_b64encode(dumps(value, ascii_only=True).encode()).decode().rstrip("=")


def forged_cursors() -> st.SearchStrategy[str]:
    """Cursors shaped like the server's (base64url JSON: sync `{c, s}`, search `{o}`), with any
    value in each field."""
    chat = st.sampled_from(CHATS) | json_values
    return st.one_of(
        st.fixed_dictionaries({"c": chat, "s": json_values | hostile_ints}).map(base64url_json),
        st.fixed_dictionaries({"o": json_values | hostile_ints}).map(base64url_json),
        json_values.map(base64url_json),
        hostile_text,
    )


def forged_tokens(signing_key: str) -> st.SearchStrategy[str]:
    """Access tokens signed with the deployment's own key (a leaked key, a buggy issuer), with
    any value in each claim."""
    import jwt

    from tidings.sessions.tokens import ALGORITHMS, AUDIENCE, ISSUER

    now = int(time.time())
    claims = st.fixed_dictionaries(
        {
            "sub": st.sampled_from(USERS) | json_values,
            "iat": st.just(now) | hostile_ints | json_values,
            "exp": st.just(now + 900) | hostile_ints | json_values,
            "iss": st.just(ISSUER),
            "aud": st.just(AUDIENCE),
        }
    )
    return claims.map(lambda c: jwt.encode(c, signing_key, algorithm=ALGORITHMS[0]))


# --- payloads shaped like a model ---------------------------------------------------------


def _unwrap(annotation: Any) -> list[Any]:
    """The types an annotation admits: `X | None` -> [X, None], `Annotated[X, …]` -> [X]."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def plausible(name: str, annotation: Any, context: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values likely to pass validation, so that examples reach the domain: by field name where
    the world has real ones (chat ids, message ids, tokens), else by type."""
    if name in context:
        known = context[name]
        return known if isinstance(known, st.SearchStrategy) else st.sampled_from(known)
    options: list[st.SearchStrategy[Any]] = []
    for kind in _unwrap(annotation):
        origin = typing.get_origin(kind)
        if kind is type(None):
            options.append(st.none())
        elif isinstance(kind, type) and issubclass(kind, BaseModel):
            options.append(model_payloads(kind, context))
        elif origin is typing.Literal:
            options.append(st.sampled_from(typing.get_args(kind)))
        elif origin is list:
            (item,) = typing.get_args(kind) or (Any,)
            options.append(st.lists(plausible(name, item, context), max_size=3))
        elif origin is dict:
            value = (typing.get_args(kind) or (str, Any))[-1]
            options.append(st.dictionaries(st.sampled_from(CHATS), plausible(name, value, context), max_size=3))
        elif kind is bool:
            options.append(st.booleans())
        elif kind is int:
            options.append(st.integers(min_value=0, max_value=20))
        elif kind is str:
            options.append(st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), min_size=1, max_size=30))
        else:
            options.append(json_values)
    return st.one_of(*options) if options else json_values


def model_payloads(model: type[BaseModel], context: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts shaped like the model (fields by alias), in three kinds: every field plausible (to
    reach the domain); every field plausible but one, which is hostile or missing (to probe each
    field's edge); and any subset of fields, each plausible or hostile, plus unknown ones."""
    names = [info.alias or name for name, info in model.model_fields.items()]
    valid = st.fixed_dictionaries(
        {
            info.alias or name: plausible(info.alias or name, info.annotation, context)
            for name, info in model.model_fields.items()
        }
    )
    if not names:
        return st.dictionaries(hostile_text, json_values, max_size=2)

    def one_hostile(payload: dict[str, Any], name: str, value: Any, drop: bool) -> dict[str, Any]:
        changed = dict(payload)
        if drop:
            changed.pop(name, None)
        else:
            changed[name] = value
        return changed

    mutated = st.builds(one_hostile, valid, st.sampled_from(names), json_values | hostile_ints, st.booleans())
    mixed = st.builds(
        lambda payload, keep, extra: {**extra, **{k: v for k, v in payload.items() if k in keep}},
        st.builds(
            lambda plausible_values, hostile_values, pick: {
                k: (hostile_values[k] if pick[i] else plausible_values[k]) for i, k in enumerate(names)
            },
            valid,
            st.fixed_dictionaries({k: json_values for k in names}),
            st.lists(st.booleans(), min_size=len(names), max_size=len(names)),
        ),
        st.sets(st.sampled_from(names)),
        st.dictionaries(hostile_text, json_values, max_size=2),
    )
    return st.one_of(valid, mutated, mixed)
