"""Stub REQUEST authorizer: the token names the user; a few tokens trigger each outcome."""


def _policy(effect: str, principal: str, resource: str, context: dict | None = None) -> dict:
    policy = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context is not None:
        policy["context"] = context
    return policy


def handler(event, context):
    header = event["headers"].get("Authorization", "")
    token = event["queryStringParameters"].get("token") or header.removeprefix("Bearer ")
    if not token:
        raise Exception("Unauthorized")
    if token == "deny":
        return _policy("Deny", "nobody", event["methodArn"])
    if token == "crash":
        raise RuntimeError("the authorizer broke")
    if token == "nested-context":
        return _policy("Allow", token, event["methodArn"], {"nested": {"not": "allowed"}})
    return _policy("Allow", token, event["methodArn"], {"userId": token, "expiresAt": 123, "admin": True})
