"""Tidings' local runtime (`tidings dev`): a single-process emulation of the AWS pieces.

API Gateway's WebSocket API, @connections management API and HTTP API; Lambda (the same handler
files under `functions/`, invoked with AWS-shaped events); the DynamoDB Streams and SQS event
source mappings and EventBridge schedules; DynamoDB, SQS and Secrets Manager through moto. All
of it is built from `tidings.app.APPLICATION`.

Modules: `runtime` wires everything (`LocalRuntime`), `cli` is the `tidings` command, `gateway`
+ `apigw` + `http_api` are API Gateway, `lambdas` is Lambda, `streams`, `queues` and
`schedules` are the event sources, `aws` + `moto_patches` are moto, `stats` the local-only
diagnostics, `demo` the demo data, `keys` the local signing key.

This package is never shipped to Lambda: it depends on `tidings`, never the other way round.
"""
