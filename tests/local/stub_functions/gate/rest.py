"""Stub HTTP API function: POST answers in the full payload 2.0 response format (with a CORS
header of its own, which API Gateway ignores), GET in the inferred one (a plain dict);
`?fail=1` raises. An IAM-authorized route answers with the caller's `authorizer.iam` block."""

import json


def handler(event, context):
    if (event.get("queryStringParameters") or {}).get("fail"):
        raise RuntimeError("the function broke")
    if "authorizer" in event["requestContext"]:
        return {"iam": event["requestContext"]["authorizer"]["iam"], "body": event.get("body")}
    if event["requestContext"]["http"]["method"] == "POST":
        return {
            "statusCode": 201,
            "headers": {
                "Content-Type": "application/json",
                "X-Thing": "made",
                "Access-Control-Allow-Origin": "https://function-says.example",
            },
            "cookies": ["session=abc; Path=/"],
            "body": json.dumps({"got": json.loads(event["body"])}),
        }
    return {"routeKey": event["routeKey"], "pathParameters": event.get("pathParameters")}
