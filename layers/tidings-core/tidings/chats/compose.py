"""Construction of the directory's services and ports, from a function's environment.

Every function takes the environment it builds for, and checks the grants its stores need.
Each builder imports the services it builds, so a function loads the modules of what it builds
and no other (`tests/infrastructure/test_cold_start_imports.py`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tidings.chats.models import CHATS, MEMBERS, USERS
from tidings.kernel.environment import Environment
from tidings.messaging.models import MESSAGES

if TYPE_CHECKING:
    from tidings.chats.chat_list import ChatService, Preferences
    from tidings.chats.directory import CachedChatDirectory, DynamoMemberDirectory, DynamoUserChats, DynamoUserDirectory
    from tidings.chats.membership import ChannelDirectory, ChatAdministration


def user_directory(environment: Environment) -> DynamoUserDirectory:
    """Display names (cached per container)."""
    from tidings.chats.directory import DynamoUserDirectory

    environment.require(USERS)
    return DynamoUserDirectory()


def member_directory(environment: Environment) -> DynamoMemberDirectory:
    """A chat's member ids, membership checks."""
    from tidings.chats.directory import DynamoMemberDirectory

    environment.require(MEMBERS)
    return DynamoMemberDirectory()


def chat_directory(environment: Environment) -> CachedChatDirectory:
    """Chat names and types (cached per container)."""
    from tidings.chats.directory import CachedChatDirectory

    environment.require(CHATS)
    return CachedChatDirectory()


def user_chats(environment: Environment) -> DynamoUserChats:
    """A user's chats and the people in them (search's directory)."""
    from tidings.chats.directory import DynamoUserChats

    environment.require(MEMBERS, CHATS, USERS)
    return DynamoUserChats()


def chat_list(environment: Environment, *, preferences: Preferences) -> ChatService:
    """`GET /api/chats`; `preferences` are the notification preferences (muted, pinned)."""
    from tidings.chats.chat_list import ChatService
    from tidings.chats.chat_store import DynamoChatStore

    environment.require(CHATS, MEMBERS, USERS)
    return ChatService(DynamoChatStore(), preferences)


def chat_administration(environment: Environment) -> ChatAdministration:
    """Creating and changing chats and members, each change with its chat event."""
    from tidings.chats.membership import ChatAdministration
    from tidings.chats.membership_store import DynamoChatChanges

    environment.require(CHATS, MEMBERS, USERS, MESSAGES)
    return ChatAdministration(DynamoChatChanges(), now=time.time)


def channel_directory(environment: Environment) -> ChannelDirectory:
    """`GET /api/channels`: the public channels."""
    from tidings.chats.membership import ChannelDirectory
    from tidings.chats.membership_store import DynamoChannels

    environment.require(CHATS)
    return ChannelDirectory(DynamoChannels())
