"""Stub function that does what its event asks, step by step, and answers what happened: the
runtime's tests invoke it directly (`runtime.lambdas.invoke(PROBE, {"steps": [...]})`) to see a
function's world from inside its worker: its environment, its module globals, its process, its
AWS calls and the faults injected into it.

Steps: `{"do": "env", "name"}`, `{"do": "environ"}` (every variable's name), `{"do": "path"}`
(`sys.path`), `{"do": "set", "key", "value"}`, `{"do": "get", "key"}`,
`{"do": "sleep", "seconds"}`, `{"do": "exit", "code"}`, `{"do": "aws", "service", "operation",
"params", "endpoint"?}`, `{"do": "post", "url"}` (requests), `{"do": "search"}` (the embedded
engine), `{"do": "batch", "records"}` (Powertools' batch processor over stream records),
`{"do": "sdk_models"}` (whether two botocore sessions share one parsed DynamoDB model).
"""

import os
import sys
import time

import boto3

STATE: dict = {}  # module globals: per execution environment


def handler(event, context):
    answer = {"pid": os.getpid(), "steps": []}
    for step in event.get("steps", []):
        answer["steps"].append(_STEPS[step["do"]](step))
    return answer


def _env(step):
    return os.environ.get(step["name"])


def _environ(step):
    return sorted(os.environ)


def _path(step):
    return list(sys.path)


def _set(step):
    STATE[step["key"]] = step["value"]


def _get(step):
    return STATE.get(step["key"])


def _sleep(step):
    time.sleep(step["seconds"])


def _exit(step):
    raise SystemExit(step.get("code", 1))


def _aws(step):
    client = boto3.client(step["service"], endpoint_url=step.get("endpoint"))
    try:
        response = getattr(client, step["operation"])(**step.get("params", {}))
    except client.exceptions.ClientError as exc:
        return {
            "error": exc.response["Error"]["Code"],
            "message": exc.response["Error"]["Message"],
            "status": exc.response["ResponseMetadata"]["HTTPStatusCode"],
            "retries": exc.response["ResponseMetadata"].get("RetryAttempts", 0),
        }
    return {"ok": True, "retries": response["ResponseMetadata"].get("RetryAttempts", 0)}


def _post(step):
    import requests

    try:
        return {"status": requests.post(step["url"], data=b"x", timeout=5).status_code}
    except requests.ConnectionError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}


def _search(step):
    from datetime import UTC, datetime

    from tidings.search.embedded_engine import EmbeddedSearchEngine
    from tidings.search.port import SearchUnavailable
    from tidings.search.query import parse

    engine = EmbeddedSearchEngine(os.environ["STUB_SEARCH_DB_PATH"])
    query = parse("hello", user_id="alice", now=datetime.now(UTC))
    try:
        return {"hits": len(engine.search_messages(query, ["general"], 0, 10).hits)}
    except SearchUnavailable as exc:
        return {"error": type(exc).__name__, "cause": type(exc.__cause__).__name__}


def _batch(step):
    """Each record handled leaves a note `record-<sequence number>` behind (Notes)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    notes = boto3.client("dynamodb")
    handled = []

    def record_handler(record):
        sequence_number = record.dynamodb.sequence_number
        notes.put_item(TableName=os.environ["NOTES_TABLE"], Item={"noteId": {"S": f"record-{sequence_number}"}})
        handled.append(sequence_number)

    response = process_partial_response(
        event={"Records": step["records"]},
        record_handler=record_handler,
        processor=BatchProcessor(event_type=EventType.DynamoDBStreams),
    )
    return {"handled": handled, "failures": response["batchItemFailures"]}


def _sdk_models(step):
    import botocore.session

    first, second = (botocore.session.get_session().get_service_data("dynamodb") for _ in range(2))
    return {"shared": first is second, "operations": len(first["operations"])}


_STEPS = {
    "env": _env,
    "environ": _environ,
    "path": _path,
    "set": _set,
    "get": _get,
    "sleep": _sleep,
    "exit": _exit,
    "aws": _aws,
    "post": _post,
    "search": _search,
    "batch": _batch,
    "sdk_models": _sdk_models,
}
