"""Stub message route: replies with what it was given; some routes do more."""

import json
import os
import time

import boto3


def handler(event, context):
    request = event["requestContext"]
    route = request["routeKey"]
    if route == "boom":
        raise RuntimeError("the route broke")
    if route == "huge":  # a reply one byte over API Gateway's 128 KiB message limit
        return {"statusCode": 200, "body": "x" * (128 * 1024 + 1)}
    if route == "slow":
        time.sleep(0.2)
    if route == "call-aws":
        boto3.client("dynamodb").put_item(
            TableName=os.environ["NOTES_TABLE"], Item={"noteId": {"S": request["connectionId"]}}
        )
        boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["WEBSOCKET_CALLBACK_URL"]).post_to_connection(
            ConnectionId=request["connectionId"], Data=b'{"pushed": true}'
        )
    reply = {
        "route": route,
        "body": event["body"],
        "isBase64Encoded": event["isBase64Encoded"],
        "authorizer": request["authorizer"],
        "remainingMs": context.get_remaining_time_in_millis(),
    }
    return {"statusCode": 200, "body": json.dumps(reply)}
