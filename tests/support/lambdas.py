"""Loads a function's handler module from functions/ the way Lambda does (by file), and a
minimal Lambda context."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from tidings_local.handler_modules import LambdaContext, load_handler_module

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"

__all__ = ["FUNCTIONS_DIR", "LambdaContext", "load_function"]


def load_function(relative_path: str) -> ModuleType:
    name = "test_fn_" + relative_path.replace("/", "_").removesuffix(".py")
    return load_handler_module(FUNCTIONS_DIR / relative_path, name)
