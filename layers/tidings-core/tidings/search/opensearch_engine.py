"""The OpenSearch engine (AWS): opensearch-py with SigV4, one index of messages and files.

Index design: one index, `tidings-messages` by default, created from an index
template the first time a container uses it (no custom resource: the template is idempotent
and the indexer reaches the domain anyway). Each message is a `docType: message` document with
id = messageId; each attachment a `docType: file` document with id = `messageId#position`, so
the files scope has exact totals and paging of its own. A delete removes both by messageId.

Queries are built as data (`message_query`, `file_query`; golden tests pin them): user text goes
only into `multi_match` queries, which never parse syntax, so input cannot become query DSL.
Access control is a `terms` filter on chatId inside the query, so `total` (track_total_hits)
and `from`/`size` paging only ever count what the searcher may see. Highlights use the `html`
encoder, so content is escaped before `<mark>` is added.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse

from tidings.kernel.observability import logger
from tidings.search.embedded_engine import iso
from tidings.search.port import (
    MARK_CLOSE,
    MARK_OPEN,
    PREVIEW_CHARS,
    FileDocument,
    FileHit,
    MessageDocument,
    MessageHit,
    Page,
    SearchUnavailable,
    preview,
)
from tidings.search.query import SearchQuery

DEFAULT_INDEX = "tidings-messages"
TEXT_FIELDS = ["content", "attachmentNames"]
# Search must fail fast: a slow engine becomes UNAVAILABLE, not a hung route.
REQUEST_TIMEOUT_SECONDS = 5

# The index design names the `standard` analyzer; this is the standard tokenizer and lowercasing plus
# ASCII folding, so `cafe` finds `café` here as in the embedded engine (unicode61,
# remove_diacritics): both engines answer the contract suite alike.
ANALYZER = "tidings_text"
ANALYSIS: dict[str, Any] = {
    "analyzer": {ANALYZER: {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]}}
}

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "docType": {"type": "keyword"},
        "messageId": {"type": "keyword"},
        "chatId": {"type": "keyword"},
        "seq": {"type": "long"},
        "senderId": {"type": "keyword"},
        "senderName": {"type": "text", "analyzer": ANALYZER},
        "content": {
            "type": "text",
            "analyzer": ANALYZER,
            "fields": {"exact": {"type": "keyword", "ignore_above": 256}},
        },
        "createdAt": {"type": "date"},
        "mentions": {"type": "keyword"},
        "hasAttachment": {"type": "boolean"},
        "attachmentNames": {"type": "text", "analyzer": ANALYZER},
        # Stored for display only.
        "attachments": {"type": "object", "enabled": False},
        "file": {
            "properties": {
                "fileId": {"type": "keyword"},
                "name": {
                    "type": "text",
                    "analyzer": ANALYZER,
                    "fields": {"exact": {"type": "keyword", "ignore_above": 256}},
                },
                "size": {"type": "long"},
                "mimeType": {"type": "keyword"},
                "url": {"type": "keyword", "index": False},
            }
        },
    },
}


def index_template(index: str) -> dict[str, Any]:
    """The composable index template for `index` (and `index-*`, for a later alias swap)."""
    return {
        "index_patterns": [index, f"{index}-*"],
        "template": {
            # One shard is plenty for a chat workspace's messages; replicas follow the domain's size.
            "settings": {
                "number_of_shards": 1,
                "number_of_replicas": 0,
                "refresh_interval": "1s",
                "analysis": ANALYSIS,
            },
            "mappings": MAPPINGS,
        },
    }


def _text_clauses(query: SearchQuery, fields: list[str]) -> list[dict[str, Any]]:
    clauses: list[dict[str, Any]] = [
        {"multi_match": {"query": phrase, "type": "phrase", "fields": fields}} for phrase in query.phrases
    ]
    for position, term in enumerate(query.terms):
        if query.prefix_last_term and position == len(query.terms) - 1:
            clauses.append({"multi_match": {"query": term, "type": "phrase_prefix", "fields": fields}})
        else:
            clauses.append({"multi_match": {"query": term, "fields": fields, "operator": "and"}})
    return clauses


def _filters(doc_type: str, query: SearchQuery, chat_ids: Sequence[str]) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = [
        {"term": {"docType": doc_type}},
        {"terms": {"chatId": list(chat_ids)}},  # access control, in the query
    ]
    if query.from_users:
        filters.append({"terms": {"senderId": list(query.from_users)}})
    if query.mentions:
        filters.append({"terms": {"mentions": list(query.mentions)}})
    if query.has_attachment:
        filters.append({"term": {"hasAttachment": True}})
    if query.time.start is not None or query.time.end is not None:
        bounds: dict[str, str] = {}
        if query.time.start is not None:
            bounds["gte"] = iso(query.time.start)
        if query.time.end is not None:
            bounds["lt"] = iso(query.time.end)
        filters.append({"range": {"createdAt": bounds}})
    return filters


def _body(
    doc_type: str,
    query: SearchQuery,
    chat_ids: Sequence[str],
    fields: list[str],
    highlight_field: str,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    must = _text_clauses(query, fields)
    sort: list[Any] = [{"_score": "desc"}, {"createdAt": "desc"}] if must else [{"createdAt": "desc"}]
    return {
        "from": offset,
        "size": limit,
        "track_total_hits": True,
        "query": {"bool": {"must": must or [{"match_all": {}}], "filter": _filters(doc_type, query, chat_ids)}},
        "sort": sort,
        "highlight": {
            "pre_tags": [MARK_OPEN],
            "post_tags": [MARK_CLOSE],
            "encoder": "html",
            "fields": {
                highlight_field: {"fragment_size": 150, "number_of_fragments": 3, "no_match_size": PREVIEW_CHARS}
            },
        },
    }


def message_query(query: SearchQuery, chat_ids: Sequence[str], offset: int, limit: int) -> dict[str, Any]:
    return _body("message", query, chat_ids, TEXT_FIELDS, "content", offset, limit)


def file_query(query: SearchQuery, chat_ids: Sequence[str], offset: int, limit: int) -> dict[str, Any]:
    return _body("file", query, chat_ids, ["file.name"], "file.name", offset, limit)


def message_source(document: MessageDocument) -> dict[str, Any]:
    return {
        "docType": "message",
        "messageId": document.message_id,
        "chatId": document.chat_id,
        "seq": document.seq,
        "senderId": document.sender_id,
        "senderName": document.sender_name,
        "content": document.content,
        "createdAt": document.created_at,
        "mentions": list(document.mentions),
        "hasAttachment": document.has_attachment,
        "attachmentNames": [file.name for file in document.files],
        "attachments": [_file_source(file) for file in document.files],
    }


def file_source(document: MessageDocument, file: FileDocument) -> dict[str, Any]:
    source = message_source(document)
    source.update(docType="file", file=_file_source(file))
    return source


def _file_source(file: FileDocument) -> dict[str, Any]:
    return {"fileId": file.file_id, "name": file.name, "size": file.size, "mimeType": file.mime_type, "url": file.url}


def bulk_actions(documents: Iterable[MessageDocument], index: str) -> list[dict[str, Any]]:
    """The `_bulk` body: each message, then each of its files (attachments never change after
    sending: `message.edit` changes content only)."""
    body: list[dict[str, Any]] = []
    for document in documents:
        body += [{"index": {"_index": index, "_id": document.message_id}}, message_source(document)]
        for position, file in enumerate(document.files):
            body += [
                {"index": {"_index": index, "_id": f"{document.message_id}#{position}"}},
                file_source(document, file),
            ]
    return body


def _document(source: dict[str, Any]) -> MessageDocument:
    return MessageDocument(
        message_id=source["messageId"],
        chat_id=source["chatId"],
        seq=int(source["seq"]),
        sender_id=source["senderId"],
        sender_name=source["senderName"],
        content=source.get("content") or "",
        created_at=source["createdAt"],
        mentions=tuple(source.get("mentions") or ()),
        files=tuple(_file(attachment) for attachment in source.get("attachments") or ()),
    )


def _file(source: dict[str, Any]) -> FileDocument:
    return FileDocument(source["fileId"], source["name"], source.get("size"), source.get("mimeType"), source.get("url"))


def _score(hit: dict[str, Any]) -> float:
    score = hit.get("_score")
    return float(score) if score is not None else 0.0


class OpenSearchEngine:
    """`client` is an `opensearchpy.OpenSearch` (SigV4 on AWS: `client_for_aws`). `refresh`
    makes every write visible before it returns: for tests; production relies on the 1 s
    refresh interval, inside the 2 s the protocol allows."""

    def __init__(self, client: Any, index: str = DEFAULT_INDEX, *, refresh: bool = False) -> None:
        self._client = client
        self._index = index
        self._refresh = refresh
        self._ready = False

    @contextmanager
    def _calls(self) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError
        from opensearchpy.exceptions import OpenSearchException

        try:
            yield
        except (OpenSearchException, BotoCoreError) as exc:
            logger.warning("OpenSearch call failed", extra={"error": type(exc).__name__})
            raise SearchUnavailable() from exc

    def _ensure_index(self) -> None:
        """Creates the template and the index once per container (both idempotent)."""
        if self._ready:
            return
        self._client.indices.put_index_template(name=self._index, body=index_template(self._index))
        if not self._client.indices.exists(index=self._index):
            self._client.indices.create(index=self._index, ignore=400)  # 400: another container won
        self._ready = True

    def index(self, documents: Iterable[MessageDocument]) -> None:
        """Bulk-indexes the documents. A document the domain refuses (a 4xx item: a field the
        mapping cannot hold) is indexed again without its files, then dropped if refused again,
        logged either way: one odd message never fails its batch. A busy or failing domain (429,
        5xx items) is SearchUnavailable, so the record is retried."""
        documents = list(documents)
        refused = self._bulk(documents)
        if refused:
            logger.warning("OpenSearch refused documents; indexing them without files", extra={"messageIds": refused})
            again = self._bulk([replace(d, files=()) for d in documents if d.message_id in refused])
            if again:
                logger.warning("OpenSearch refused documents; not indexed", extra={"messageIds": again})

    def _bulk(self, documents: list[MessageDocument]) -> list[str]:
        """The message ids of the documents the domain refused."""
        body = bulk_actions(documents, self._index)
        if not body:
            return []
        with self._calls():
            self._ensure_index()
            response = self._client.bulk(body=body, refresh="wait_for" if self._refresh else "false")
        if not response.get("errors"):
            return []
        failed = [next(iter(item.values())) for item in response.get("items", [])]
        failed = [item for item in failed if item.get("error")]
        if any(int(item.get("status") or 500) == 429 or int(item.get("status") or 500) >= 500 for item in failed):
            logger.warning("OpenSearch bulk indexing had failures", extra={"failed": len(failed)})
            raise SearchUnavailable()
        return sorted({str(item.get("_id", "")).split("#", 1)[0] for item in failed})

    def remove(self, message_ids: Iterable[str]) -> None:
        ids = list(message_ids)
        if not ids:
            return
        with self._calls():
            self._ensure_index()
            self._client.delete_by_query(
                index=self._index,
                body={"query": {"terms": {"messageId": ids}}},
                conflicts="proceed",
                refresh=self._refresh,
            )

    def reset(self) -> None:
        with self._calls():
            self._client.indices.delete(index=self._index, ignore=[404])
            self._ready = False
            self._ensure_index()

    def drop(self) -> None:
        """Deletes the index and its template (tests)."""
        with self._calls():
            self._client.indices.delete(index=self._index, ignore=[404])
            self._client.indices.delete_index_template(name=self._index, ignore=[404])

    def search_messages(self, query: SearchQuery, chat_ids: Sequence[str], offset: int, limit: int) -> Page[MessageHit]:
        if not chat_ids:
            return Page(0, [])
        response = self._search(message_query(query, chat_ids, offset, limit))
        hits = []
        for hit in response["hits"]["hits"]:
            document = _document(hit["_source"])
            highlights = hit.get("highlight", {}).get("content") or [preview(document.content)]
            hits.append(MessageHit(document, _score(hit), list(highlights)))
        return Page(int(response["hits"]["total"]["value"]), hits)

    def search_files(self, query: SearchQuery, chat_ids: Sequence[str], offset: int, limit: int) -> Page[FileHit]:
        if not chat_ids:
            return Page(0, [])
        response = self._search(file_query(query, chat_ids, offset, limit))
        hits = []
        for hit in response["hits"]["hits"]:
            source = hit["_source"]
            file = _file(source["file"])
            highlights = hit.get("highlight", {}).get("file.name") or [preview(file.name)]
            hits.append(FileHit(_document(source), file, _score(hit), list(highlights)))
        return Page(int(response["hits"]["total"]["value"]), hits)

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        """Searching never creates the index (searching roles may only read): before the first
        message is indexed there is no index, and nothing to find."""
        from opensearchpy.exceptions import NotFoundError

        with self._calls():
            try:
                return dict(self._client.search(index=self._index, body=body))
            except NotFoundError:
                return {"hits": {"total": {"value": 0}, "hits": []}}


def client_for_aws(endpoint: str, region: str) -> Any:
    """A client for an Amazon OpenSearch Service domain, signing requests with SigV4 using the
    function role's credentials (service `es`)."""
    import boto3
    from opensearchpy import AWSV4SignerAuth, OpenSearch, RequestsHttpConnection

    host = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}").hostname
    credentials = boto3.Session().get_credentials()
    return OpenSearch(
        hosts=[{"host": host, "port": 443}],
        http_auth=AWSV4SignerAuth(credentials, region, "es"),
        use_ssl=True,
        verify_certs=True,
        connection_class=RequestsHttpConnection,
        timeout=REQUEST_TIMEOUT_SECONDS,
        max_retries=1,
    )


def client_for_url(url: str) -> Any:
    """A client for a plain OpenSearch URL (a local container; `OPENSEARCH_URL` in tests)."""
    from opensearchpy import OpenSearch

    return OpenSearch(hosts=[url], timeout=REQUEST_TIMEOUT_SECONDS, max_retries=1)
