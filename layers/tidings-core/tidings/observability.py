"""The one place that creates the Powertools Logger, Tracer and Metrics.

Logs carry metadata only (chatId, messageId, userId, connectionId): message content is never
logged (seed §11.3).
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "tidings"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="Tidings", service=SERVICE)
