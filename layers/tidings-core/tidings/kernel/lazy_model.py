"""The base of our pydantic models: each is built when it is first used, not at import.

A function imports the wire modules of the features its routes touch, and with them every
model they define, but validates a few of them. Building a model (its core schema, validator
and serializer) is most of what defining it costs, so `defer_build` leaves that to the first
validation, serialization or JSON schema of the model: a function pays for the models it uses
(docs/benchmarks-cold-start.md). Subclasses' own `model_config` is merged with this one.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LazyModel(BaseModel):
    model_config = ConfigDict(defer_build=True)
