"""CDK assertions on search: an OpenSearch domain per declared index, IAM-only access, and each
function reaching only the domains it was declared with, with only its access's HTTP verbs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infrastructure.synthesis import Synthesized
from tidings.app import APPLICATION
from tidings.kernel.declaration import Function
from tidings.search.declaration import SEARCH_INDEX

_READ = {"es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"}
_WRITE = {"es:ESHttpPut", "es:ESHttpDelete"}


def _domain(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    logical_id = synthesized.logical_id(synthesized.stack.search.domain(SEARCH_INDEX))
    return logical_id, synthesized.resources[logical_id]


def test_one_domain_per_declared_index(synthesized: Synthesized) -> None:
    assert len(synthesized.of_type("AWS::OpenSearchService::Domain")) == len(APPLICATION.search_indexes) == 1


def test_the_domain_is_encrypted_https_only_and_logs_to_cloudwatch(synthesized: Synthesized) -> None:
    _, domain = _domain(synthesized)
    properties = domain["Properties"]
    assert properties["EngineVersion"].startswith("OpenSearch_")
    assert properties["EncryptionAtRestOptions"] == {"Enabled": True}
    assert properties["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert properties["DomainEndpointOptions"]["EnforceHTTPS"] is True
    assert properties["DomainEndpointOptions"]["TLSSecurityPolicy"] == "Policy-Min-TLS-1-2-2019-07"
    assert set(properties["LogPublishingOptions"]) == {"SEARCH_SLOW_LOGS", "INDEX_SLOW_LOGS", "ES_APPLICATION_LOGS"}
    assert "AccessPolicies" not in properties, "IAM-only: no resource policy opens the domain"
    assert len(synthesized.of_type("AWS::Logs::ResourcePolicy")) == 1
    assert not synthesized.of_type("Custom::CloudwatchLogResourcePolicy"), "no custom resource for the log policy"


def _search_actions(synthesized: Synthesized, function: Function, domain_id: str) -> set[str]:
    role_id = synthesized.logical_id(synthesized.stack.functions.function(function).role)  # type: ignore[arg-type]
    actions: set[str] = set()
    for policy in synthesized.of_type("AWS::IAM::Policy").values():
        if {"Ref": role_id} not in policy["Properties"].get("Roles", []):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if any(domain_id in str(resource) for resource in resources):
                actions |= set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    return actions


@pytest.mark.parametrize("function", APPLICATION.functions, ids=lambda f: f.id)
def test_functions_reach_only_their_declared_search_domains(synthesized: Synthesized, function: Function) -> None:
    domain_id, _ = _domain(synthesized)
    actions = _search_actions(synthesized, function, domain_id)
    declared = dict((index.id, access) for index, access in function.search).get(SEARCH_INDEX.id)
    if declared is None:
        assert not actions, f"{function.id} may reach the search domain"
    elif declared == "read":
        assert actions == _READ
    else:
        assert actions == _READ | _WRITE


def test_the_search_functions_are_the_route_indexer_reindex_and_the_erasure() -> None:
    """The erasure worker removes an erased user's messages from the index at once."""
    with_search = {f.id for f in APPLICATION.functions if f.search}
    assert with_search == {"Search", "SearchIndexer", "SearchReindex", "ErasureWorker"}
