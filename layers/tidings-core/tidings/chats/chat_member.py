"""A chat's member as the REST calls answer it: the chat list and the chat changes both do, and
neither loads the other's service for it (a function imports only what its routes use)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ChatMember:
    user_id: str
    display_name: str
    role: str

    def to_wire(self) -> dict[str, Any]:
        return {"userId": self.user_id, "displayName": self.display_name, "role": self.role}
