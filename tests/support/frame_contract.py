"""Server frames checked against the published contract, `docs/asyncapi.yaml`: the schema of
every message the server sends (a `send` operation's, or a reply of a `receive` operation's),
by frame `type`. Several messages share a type (the acks): a frame is valid when it matches one
of them. The document is read as published, so a frame the document does not describe fails
even when the server's own models accept it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ASYNCAPI = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
_BASE = "urn:tidings:asyncapi"
# API Gateway's own message when an integration fails has no `type`; the document names it so.
UNTYPED = "apigateway.error"


class FrameContract:
    def __init__(self, document: dict[str, Any]) -> None:
        registry: Registry = Registry().with_resource(_BASE, Resource.from_contents(document, DRAFT202012))
        channel_messages = {
            f"#/channels/{name}/messages/{key}": ref["$ref"]
            for name, channel in document["channels"].items()
            for key, ref in channel["messages"].items()
        }
        sent: list[str] = []
        for operation in document["operations"].values():
            if operation["action"] == "send":
                sent += [ref["$ref"] for ref in operation["messages"]]
            sent += [ref["$ref"] for ref in operation.get("reply", {}).get("messages", [])]
        self._validators: dict[str, list[tuple[str, Draft202012Validator]]] = {}
        for ref in dict.fromkeys(sent):
            message_ref = channel_messages[ref]
            message = document["components"]["messages"][message_ref.rsplit("/", 1)[-1]]
            validator = Draft202012Validator({"$ref": f"{_BASE}{message_ref}/payload"}, registry=registry)
            self._validators.setdefault(message["name"], []).append((message_ref, validator))

    @property
    def frame_types(self) -> set[str]:
        return set(self._validators)

    def problems(self, frame: Any) -> list[str]:
        """Why `frame` is not a server frame of the contract; empty when it is one."""
        frame_type = frame.get("type", UNTYPED) if isinstance(frame, dict) else None
        candidates = self._validators.get(frame_type) if isinstance(frame_type, str) else None
        if not candidates:
            return [f"no server frame of type {frame_type!r} in {ASYNCAPI.name}"]
        problems = []
        for message_ref, validator in candidates:
            error = best_match(validator.iter_errors(frame))
            if error is None:
                return []
            where = "/".join(str(part) for part in error.absolute_path) or "(the frame)"
            problems.append(f"{message_ref.rsplit('/', 1)[-1]}: {where}: {error.message}")
        return problems


@cache
def contract() -> FrameContract:
    return FrameContract(yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8")))
