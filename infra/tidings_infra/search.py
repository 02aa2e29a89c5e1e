"""The search index on AWS: an Amazon OpenSearch Service domain per declared `SearchIndex`.

A managed domain rather than OpenSearch Serverless: a search collection starts at several
OCUs billed around the clock, whereas a small domain is a fraction of that, and a domain
supports everything the adapter uses (`_delete_by_query`, composable index templates, ids).

Access is IAM only: no access policy on the domain, so only principals whose own policies grant
`es:ESHttp*` on it can reach it, and every request is SigV4-signed (opensearch-py's
`AWSV4SignerAuth`). Searching functions get GET/HEAD/POST (`_search` is a POST); indexing
functions also PUT/DELETE (bulk, templates, delete-by-query). The index template is created by
the adapter on first use, so no custom resource (and no Lambda in a VPC) is needed.

The domain logs slow searches, slow indexing and errors to CloudWatch Logs, through a
resource policy this construct writes itself (CDK would otherwise add a custom resource).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_opensearchservice as opensearch
from constructs import Construct

from tidings.kernel.declaration import Access, SearchIndex
from tidings_infra import names
from tidings_infra.nag import acknowledge, acknowledge_wildcard_resource

_ACTIONS: dict[Access, tuple[str, ...]] = {
    "read": ("es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"),
    "write": ("es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete"),
    "read_write": ("es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete"),
}


class SearchConstruct(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        indexes: Sequence[SearchIndex],
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.domains: dict[str, opensearch.Domain] = {}
        for index in indexes:
            self.domains[index.id] = self._domain(index, removal_policy)

    def domain(self, index: SearchIndex) -> opensearch.Domain:
        return self.domains[index.id]

    def endpoint(self, index: SearchIndex) -> str:
        return f"https://{self.domain(index).domain_endpoint}"

    def grant(self, index: SearchIndex, access: Access, role: iam.Role) -> None:
        domain = self.domain(index)
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(_ACTIONS[access]), resources=[domain.domain_arn, f"{domain.domain_arn}/*"])
        )
        acknowledge_wildcard_resource(
            role,
            f"{domain.domain_arn}/*",
            f"HTTP access to the paths of the {index.id} OpenSearch domain only (its index, _bulk, _search, "
            "_index_template): OpenSearch paths are not IAM resources any finer than domain/*.",
        )

    def _domain(self, index: SearchIndex, removal_policy: RemovalPolicy) -> opensearch.Domain:
        log_groups = {
            kind: logs.LogGroup(
                self, f"{index.id}{kind}Logs", retention=names.LOG_RETENTION, removal_policy=removal_policy
            )
            for kind in ("SlowSearch", "SlowIndex", "App")
        }
        domain = opensearch.Domain(
            self,
            index.id,
            version=names.SEARCH_ENGINE_VERSION,
            capacity=opensearch.CapacityConfig(
                data_nodes=names.SEARCH_DATA_NODES,
                data_node_instance_type=names.SEARCH_INSTANCE_TYPE,
                multi_az_with_standby_enabled=False,
            ),
            ebs=opensearch.EbsOptions(volume_size=names.SEARCH_VOLUME_GB),
            zone_awareness=opensearch.ZoneAwarenessConfig(enabled=False),
            encryption_at_rest=opensearch.EncryptionAtRestOptions(enabled=True),
            node_to_node_encryption=True,
            enforce_https=True,
            tls_security_policy=opensearch.TLSSecurityPolicy.TLS_1_2,
            logging=opensearch.LoggingOptions(
                slow_search_log_enabled=True,
                slow_search_log_group=log_groups["SlowSearch"],
                slow_index_log_enabled=True,
                slow_index_log_group=log_groups["SlowIndex"],
                app_log_enabled=True,
                app_log_group=log_groups["App"],
            ),
            suppress_logs_resource_policy=True,
            removal_policy=removal_policy,
        )
        logs_policy = logs.ResourcePolicy(
            self,
            f"{index.id}LogsPolicy",
            policy_statements=[
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal("es.amazonaws.com")],
                    actions=["logs:PutLogEvents", "logs:CreateLogStream"],
                    resources=[group.log_group_arn for group in log_groups.values()],
                    conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
                )
            ],
        )
        domain.node.add_dependency(logs_policy)
        acknowledge(
            domain,
            "Tidings runs no VPC (API Gateway, Lambda, DynamoDB and SQS are regional endpoints); putting the "
            "domain in one would put every search function in it, behind NAT or endpoints. The domain has no "
            "access policy: only roles granted es:ESHttp* on it reach it, and every request is SigV4-signed.",
            "AwsSolutions-OS1",
            "AwsSolutions-OS3",
            "AwsSolutions-OS5",
        )
        acknowledge(
            domain,
            "The reference deployment is one data node: the index is derived data, rebuilt from DynamoDB by the "
            "SearchReindex function, and while it is down search answers UNAVAILABLE and messaging "
            "goes on. Dedicated masters and zone awareness are a capacity decision for larger "
            "deployments (names.SEARCH_* in infra).",
            "AwsSolutions-OS4",
            "AwsSolutions-OS7",
        )
        return domain
