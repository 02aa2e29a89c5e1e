"""Presence visibility: a user may watch the presence of those it shares a chat with, and the
check costs at most one request per user asked about (plus one), on moto."""

from __future__ import annotations

import pytest

from tests.support.seed import make_chat
from tidings.chats import directory
from tidings.chats.directory import DynamoSharedChats
from tidings.chats.models import MemberModel
from tidings.kernel.errors import Forbidden
from tidings.presence.machine import PresenceTimings
from tidings.presence.presence_service import NOT_SHARED_MESSAGE, PresenceService


class Requests:
    """Counts the Members reads the check makes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.queries = 0
        self.batch_gets = 0
        by_user_query, batch_get = MemberModel.by_user.query, MemberModel.batch_get

        def query(*args, **kwargs):
            self.queries += 1
            return by_user_query(*args, **kwargs)

        def batch(*args, **kwargs):
            self.batch_gets += 1
            return batch_get(*args, **kwargs)

        monkeypatch.setattr(MemberModel.by_user, "query", query)
        monkeypatch.setattr(MemberModel, "batch_get", batch)


@pytest.fixture
def chats(aws):
    make_chat("dm-ann-bo", ["ann", "bo"], chat_type="dm")
    make_chat("crew", ["ann", "cy", "di"])
    make_chat("elsewhere", ["ed", "fay"])


def test_only_the_users_sharing_a_chat_are_shared_with(chats, monkeypatch):
    requests = Requests(monkeypatch)
    assert DynamoSharedChats().shared_with("ann", ["bo", "cy", "ed", "nobody", "ann"]) == {"bo", "cy"}
    assert (requests.queries, requests.batch_gets) == (1, 1)  # the user's chats, then one batch of pairs


def test_a_user_in_no_chat_shares_nothing_and_asking_about_nobody_reads_nothing(chats, monkeypatch):
    requests = Requests(monkeypatch)
    assert DynamoSharedChats().shared_with("loner", ["ann", "bo"]) == set()
    assert DynamoSharedChats().shared_with("ann", ["ann"]) == set()
    assert (requests.queries, requests.batch_gets) == (1, 0)


def test_too_many_pairs_for_one_batch_queries_each_other_user_once(chats, monkeypatch):
    for n in range(30):  # ann in 32 chats; 32 chats x 4 users is over one BatchGetItem's 100 keys
        make_chat(f"side-{n}", ["ann", f"extra-{n}"])
    requests = Requests(monkeypatch)
    assert DynamoSharedChats().shared_with("ann", ["bo", "ed", "extra-7", "fay"]) == {"bo", "extra-7"}
    # The user's chats, confirmed in one batch; each other's chats (a shared one is confirmed by a GetItem).
    assert (requests.queries, requests.batch_gets) == (1 + 4, 1)


def test_the_batch_path_and_the_query_path_agree(chats, monkeypatch):
    monkeypatch.setattr(directory, "_BATCH_GET_LIMIT", 0)  # forces the per-user queries
    assert DynamoSharedChats().shared_with("ann", ["bo", "cy", "ed", "nobody"]) == {"bo", "cy"}


class Visible:
    def __init__(self, shared: set[str]) -> None:
        self.shared = shared
        self.asked: list[list[str]] = []

    def shared_with(self, user_id, others):
        self.asked.append(list(others))
        return self.shared & set(others)


class NeverCalled:
    def __getattr__(self, name):
        raise AssertionError(f"a refused subscribe must not touch the stores ({name})")


def service(visibility: Visible) -> PresenceService:
    return PresenceService(NeverCalled(), NeverCalled(), NeverCalled, PresenceTimings(), visibility=visibility)


def test_subscribe_refuses_naming_every_unshared_user_in_the_order_asked_and_subscribes_nothing():
    visible = Visible({"bo"})
    with pytest.raises(Forbidden) as refused:
        service(visible).subscribe("ann", ["zed", "bo", "ann", "cy", "zed"])
    assert refused.value.message == f"{NOT_SHARED_MESSAGE}: zed, cy"
    assert visible.asked == [["zed", "bo", "cy"]]  # once each, never oneself


def test_subscribing_to_oneself_needs_no_shared_chat():
    visible = Visible(set())

    class Store:
        def states(self, user_ids):
            return {}

    class Subscriptions:
        def subscribe(self, subscriber_id, user_ids, expires_at):
            self.subscribed = (subscriber_id, user_ids)

    subscriptions = Subscriptions()
    presence = PresenceService(Store(), subscriptions, NeverCalled, PresenceTimings(), visibility=visible)
    assert presence.subscribe("ann", ["ann"]) == [{"userId": "ann", "status": "offline"}]
    assert visible.asked == [] and subscriptions.subscribed == ("ann", ["ann"])
