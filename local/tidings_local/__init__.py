"""Tidings' local runtime (`tidings dev`): a single-process emulation of the AWS pieces.

API Gateway's WebSocket API and @connections management API, Lambda (the same handler files
under `functions/`, invoked with AWS-shaped events), DynamoDB Streams event source mappings, and
DynamoDB/SQS/Secrets Manager through moto, all built from `tidings.app.APPLICATION`.

This package is never shipped to Lambda: it depends on `tidings`, never the other way round.
Start it with `tidings dev` (see `cli.py`) or in-process with `runtime.LocalRuntime`.
"""
