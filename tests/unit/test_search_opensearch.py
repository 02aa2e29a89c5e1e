"""The OpenSearch adapter: golden tests of the query DSL it builds, and its calls (with a fake
client that records them; the contract suite runs it against a real OpenSearch when
`OPENSEARCH_URL` is set)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError

from tidings.search.opensearch_engine import (
    MAPPINGS,
    OpenSearchEngine,
    bulk_actions,
    file_query,
    index_template,
    message_query,
)
from tidings.search.port import FileDocument, MessageDocument, SearchUnavailable
from tidings.search.query import parse

NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
CHATS = ["general", "project-x"]
HIGHLIGHT_CONTENT = {
    "pre_tags": ["<mark>"],
    "post_tags": ["</mark>"],
    "encoder": "html",
    "fields": {"content": {"fragment_size": 150, "number_of_fragments": 3, "no_match_size": 200}},
}
ACL = {"terms": {"chatId": ["general", "project-x"]}}


def q(text: str):
    return parse(text, user_id="carol", now=NOW)


def test_golden_free_terms_and_a_phrase() -> None:
    assert message_query(q('budget "quarterly report" q3'), CHATS, 0, 20) == {
        "from": 0,
        "size": 20,
        "track_total_hits": True,
        "query": {
            "bool": {
                "must": [
                    {
                        "multi_match": {
                            "query": "quarterly report",
                            "type": "phrase",
                            "fields": ["content", "attachmentNames"],
                        }
                    },
                    {"multi_match": {"query": "budget", "fields": ["content", "attachmentNames"], "operator": "and"}},
                    {"multi_match": {"query": "q3", "fields": ["content", "attachmentNames"], "operator": "and"}},
                ],
                "filter": [{"term": {"docType": "message"}}, ACL],
            }
        },
        "sort": [{"_score": "desc"}, {"createdAt": "desc"}],
        "highlight": HIGHLIGHT_CONTENT,
    }


def test_golden_every_operator() -> None:
    body = message_query(
        q("from:alice from:bob mentions:me has:attachment after:2026-11-01 before:2026-11-20 plan"), CHATS, 40, 20
    )
    assert body["from"] == 40 and body["size"] == 20
    assert body["query"]["bool"]["filter"] == [
        {"term": {"docType": "message"}},
        ACL,
        {"terms": {"senderId": ["alice", "bob"]}},
        {"terms": {"mentions": ["carol"]}},
        {"term": {"hasAttachment": True}},
        {"range": {"createdAt": {"gte": "2026-11-02T00:00:00.000Z", "lt": "2026-11-20T00:00:00.000Z"}}},
    ]


def test_golden_operators_only_sort_newest_first() -> None:
    body = message_query(q("from:alice last week"), ["general"], 0, 10)
    assert body["query"]["bool"]["must"] == [{"match_all": {}}]
    assert body["query"]["bool"]["filter"] == [
        {"term": {"docType": "message"}},
        {"terms": {"chatId": ["general"]}},
        {"terms": {"senderId": ["alice"]}},
        {"range": {"createdAt": {"gte": "2026-11-18T10:30:00.000Z"}}},
    ]
    assert body["sort"] == [{"createdAt": "desc"}]


def test_golden_prefix_for_suggestions() -> None:
    body = message_query(q("quarterly bud").as_prefix(), CHATS, 0, 3)
    assert body["query"]["bool"]["must"] == [
        {"multi_match": {"query": "quarterly", "fields": ["content", "attachmentNames"], "operator": "and"}},
        {"multi_match": {"query": "bud", "type": "phrase_prefix", "fields": ["content", "attachmentNames"]}},
    ]


def test_golden_files_scope() -> None:
    body = file_query(q("budget in:general"), ["general"], 0, 20)
    assert body["query"]["bool"] == {
        "must": [{"multi_match": {"query": "budget", "fields": ["file.name"], "operator": "and"}}],
        "filter": [{"term": {"docType": "file"}}, {"terms": {"chatId": ["general"]}}],
    }
    assert body["highlight"]["fields"] == {
        "file.name": {"fragment_size": 150, "number_of_fragments": 3, "no_match_size": 200}
    }


def test_hostile_text_only_ever_reaches_match_queries() -> None:
    text = 'a:b OR (c AND d*) "x" \\ {"script": 1}'
    body = message_query(q(text), CHATS, 0, 10)
    kinds = {next(iter(clause)) for clause in body["query"]["bool"]["must"]}
    assert kinds == {"multi_match"}, "no query_string, no script: nothing parses user text"


def test_the_mapping_follows_seed_5_3() -> None:
    properties = MAPPINGS["properties"]
    assert properties["content"] == {
        "type": "text",
        "analyzer": "tidings_text",
        "fields": {"exact": {"type": "keyword", "ignore_above": 256}},
    }
    for keyword in ("messageId", "chatId", "senderId", "mentions"):
        assert properties[keyword]["type"] == "keyword"
    assert properties["createdAt"]["type"] == "date"
    assert properties["hasAttachment"]["type"] == "boolean"
    assert properties["attachmentNames"]["type"] == "text"
    template = index_template("tidings-messages")
    assert template["index_patterns"] == ["tidings-messages", "tidings-messages-*"]
    # The standard tokenizer, lowercased and ASCII-folded (cafe finds café, as embedded).
    assert template["template"]["settings"]["analysis"]["analyzer"]["tidings_text"] == {
        "type": "custom",
        "tokenizer": "standard",
        "filter": ["lowercase", "asciifolding"],
    }


DOCUMENT = MessageDocument(
    "m1",
    "general",
    7,
    "alice",
    "Alice",
    "see the <b>plan</b>",
    "2026-11-25T10:00:00.000Z",
    ("bob",),
    (FileDocument("f1", "plan.pdf", 1200, "application/pdf"),),
)


def test_bulk_indexes_the_message_and_each_file() -> None:
    body = bulk_actions([DOCUMENT], "idx")
    assert body[0] == {"index": {"_index": "idx", "_id": "m1"}}
    assert body[1]["docType"] == "message" and body[1]["attachmentNames"] == ["plan.pdf"]
    assert body[1]["hasAttachment"] is True and body[1]["mentions"] == ["bob"]
    assert body[2] == {"index": {"_index": "idx", "_id": "m1#0"}}
    assert body[3]["docType"] == "file" and body[3]["file"]["name"] == "plan.pdf"


class FakeIndices:
    def __init__(self, calls: list) -> None:
        self.calls = calls
        self.existing: set[str] = set()

    def put_index_template(self, name: str, body: dict) -> None:
        self.calls.append(("put_index_template", name))

    def exists(self, index: str) -> bool:
        return index in self.existing

    def create(self, index: str, ignore: int) -> None:
        self.calls.append(("create", index))
        self.existing.add(index)

    def delete(self, index: str, ignore: list) -> None:
        self.calls.append(("delete", index))
        self.existing.discard(index)


class FakeClient:
    def __init__(self, response: dict[str, Any] | None = None, fail: Exception | None = None) -> None:
        self.calls: list = []
        self.indices = FakeIndices(self.calls)
        self.response = response
        self.fail = fail

    def bulk(self, body: list, refresh: str) -> dict:
        if self.fail:
            raise self.fail
        self.calls.append(("bulk", len(body), refresh))
        return {"errors": False, "items": []}

    def delete_by_query(self, index: str, body: dict, conflicts: str, refresh: bool) -> None:
        self.calls.append(("delete_by_query", body))

    def search(self, index: str, body: dict) -> dict:
        if self.fail:
            raise self.fail
        self.calls.append(("search", body))
        assert self.response is not None
        return self.response


def test_the_index_template_is_created_once_then_documents_are_bulk_indexed() -> None:
    client = FakeClient()
    engine = OpenSearchEngine(client, "idx")
    engine.index([DOCUMENT])
    engine.index([DOCUMENT])
    assert client.calls == [
        ("put_index_template", "idx"),
        ("create", "idx"),
        ("bulk", 4, "false"),
        ("bulk", 4, "false"),
    ]


def test_remove_deletes_the_message_and_its_files_by_message_id() -> None:
    client = FakeClient()
    OpenSearchEngine(client, "idx").remove(["m1", "m2"])
    assert client.calls[-1] == ("delete_by_query", {"query": {"terms": {"messageId": ["m1", "m2"]}}})


def test_search_reads_hits_total_and_highlights() -> None:
    from tidings.search.opensearch_engine import message_source

    response = {
        "hits": {
            "total": {"value": 41, "relation": "eq"},
            "hits": [
                {
                    "_score": 2.5,
                    "_source": message_source(DOCUMENT),
                    "highlight": {"content": ["see the &lt;b&gt;<mark>plan</mark>&lt;/b&gt;"]},
                }
            ],
        }
    }
    page = OpenSearchEngine(FakeClient(response), "idx").search_messages(q("plan"), CHATS, 0, 1)
    assert page.total == 41
    hit = page.hits[0]
    assert hit.document == DOCUMENT and hit.score == 2.5
    assert hit.highlights == ["see the &lt;b&gt;<mark>plan</mark>&lt;/b&gt;"]


def test_searching_before_the_first_document_finds_nothing_and_creates_nothing() -> None:
    from opensearchpy.exceptions import NotFoundError

    client = FakeClient(fail=NotFoundError(404, "index_not_found_exception", {}))
    assert OpenSearchEngine(client, "idx").search_messages(q("plan"), CHATS, 0, 10).total == 0
    assert client.calls == []


def test_no_chats_means_no_call() -> None:
    client = FakeClient()
    assert OpenSearchEngine(client, "idx").search_messages(q("plan"), [], 0, 10).total == 0
    assert client.calls == []


def test_an_unreachable_domain_is_unavailable() -> None:
    engine = OpenSearchEngine(FakeClient(fail=OpenSearchConnectionError("N/A", "refused", None)), "idx")
    with pytest.raises(SearchUnavailable):
        engine.search_messages(q("plan"), CHATS, 0, 10)
    with pytest.raises(SearchUnavailable):
        engine.index([DOCUMENT])


class RefusingClient(FakeClient):
    """A domain that refuses every file document (as a mapping refuses a field it cannot hold)
    with `status`, and takes everything else."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status
        self.bodies: list[list] = []

    def bulk(self, body: list, refresh: str) -> dict:
        self.bodies.append(body)
        items = []
        for action in body[0::2]:
            item_id = action["index"]["_id"]
            refused = "#" in item_id
            error = {"type": "mapper_parsing_exception"} if refused else None
            items.append({"index": {"_id": item_id, "status": self.status if refused else 201, "error": error}})
        return {"errors": any(i["index"]["error"] for i in items), "items": items}


def test_a_document_the_mapping_refuses_is_indexed_without_its_files_not_retried_forever() -> None:
    client = RefusingClient(400)
    OpenSearchEngine(client, "idx").index([DOCUMENT])  # no SearchUnavailable: the batch goes on
    first, second = client.bodies
    assert [a["index"]["_id"] for a in first[0::2]] == ["m1", "m1#0"]
    assert [a["index"]["_id"] for a in second[0::2]] == ["m1"]
    assert second[1]["attachments"] == [] and second[1]["hasAttachment"] is False


@pytest.mark.parametrize("status", [429, 503])
def test_a_busy_domain_is_unavailable_so_the_record_is_retried(status) -> None:
    with pytest.raises(SearchUnavailable):
        OpenSearchEngine(RefusingClient(status), "idx").index([DOCUMENT])


def test_an_attachment_size_no_engine_can_hold_is_left_out_of_the_document() -> None:
    from tidings.messaging.message import Message
    from tidings.search.port import MessageDocument

    message = Message(
        message_id="m9",
        chat_id="c",
        seq=1,
        sender_id="alice",
        sender_name="Alice",
        content="report",
        created_at="2026-11-20T10:00:00.000Z",
        attachments=[{"name": "a.pdf", "size": 2**63}, {"name": "b.pdf", "size": 12}, {"name": 7, "size": True}],
    )
    files = MessageDocument.from_message(message).files
    assert [(f.name, f.size) for f in files] == [("a.pdf", None), ("b.pdf", 12), ("", None)]
