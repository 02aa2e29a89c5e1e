"""Builds the CDK app: `TidingsStack` plus cdk-nag, shared by `infra/app.py` and the tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import App

from tidings.app import APPLICATION
from tidings.kernel.declaration import Application
from tidings_infra import names
from tidings_infra.nag import add_nag_checks
from tidings_infra.stack import TidingsStack


def build_app(
    *,
    application: Application = APPLICATION,
    context: Mapping[str, Any] | None = None,
    nag: bool = True,
    **app_props: Any,
) -> tuple[App, TidingsStack]:
    """The app and its stack. `nag=False` is for tests of declarations other than the real one;
    `cdk synth` always runs cdk-nag, and any unacknowledged finding fails the synth."""
    app = App(context=dict(context or {}), **app_props)
    stack = TidingsStack(app, names.STACK_NAME, application=application)
    if nag:
        add_nag_checks(app)
    return app, stack
