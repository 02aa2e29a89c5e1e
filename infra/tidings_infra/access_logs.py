"""Access logging shared by the WebSocket and HTTP API stages: a log group with the app's
retention and a JSON format (one object per request, metadata only, never a body or a token)."""

from __future__ import annotations

import json
from collections.abc import Mapping

import jsii
from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_logs as logs
from constructs import Construct

from tidings_infra import names


@jsii.implements(apigwv2.IAccessLogSettings)
class AccessLogSettings:
    """`IAccessLogSettings` as a plain value: aws-apigatewayv2 declares the interface but ships
    no class implementing it."""

    def __init__(self, destination: apigwv2.IAccessLogDestination, format: apigw.AccessLogFormat) -> None:
        self._destination = destination
        self._format = format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


def json_access_logs(
    scope: Construct, construct_id: str, fields: Mapping[str, str], removal_policy: RemovalPolicy
) -> AccessLogSettings:
    """A new log group under `scope` and a compact JSON format of `fields` (name -> `$context` variable)."""
    log_group = logs.LogGroup(scope, construct_id, retention=names.LOG_RETENTION, removal_policy=removal_policy)
    return AccessLogSettings(
        apigwv2.LogGroupLogDestination(log_group),
        apigw.AccessLogFormat.custom(json.dumps(dict(fields), separators=(",", ":"))),
    )
