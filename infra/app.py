#!/usr/bin/env python3
"""CDK entry point (cdk.json: `.venv/bin/python infra/app.py`); synthesizes `TidingsStack`."""

from tidings_infra.app import build_app

if __name__ == "__main__":
    app, _ = build_app()
    app.synth()
