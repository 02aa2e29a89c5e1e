"""Construction of the directory's services and ports, from a function's environment.

Every function takes the environment it builds for, and checks the grants its stores need."""

from __future__ import annotations

from tidings.chats.chat_list import ChatService, Preferences
from tidings.chats.chat_store import DynamoChatStore
from tidings.chats.directory import CachedChatDirectory, DynamoMemberDirectory, DynamoUserChats, DynamoUserDirectory
from tidings.chats.models import CHATS, MEMBERS, USERS
from tidings.kernel.environment import Environment


def user_directory(environment: Environment) -> DynamoUserDirectory:
    """Display names (cached per container)."""
    environment.require(USERS)
    return DynamoUserDirectory()


def member_directory(environment: Environment) -> DynamoMemberDirectory:
    """A chat's member ids, membership checks."""
    environment.require(MEMBERS)
    return DynamoMemberDirectory()


def chat_directory(environment: Environment) -> CachedChatDirectory:
    """Chat names and types (cached per container)."""
    environment.require(CHATS)
    return CachedChatDirectory()


def user_chats(environment: Environment) -> DynamoUserChats:
    """A user's chats and the people in them (search's directory)."""
    environment.require(MEMBERS, CHATS, USERS)
    return DynamoUserChats()


def chat_list(environment: Environment, *, preferences: Preferences) -> ChatService:
    """`GET /api/chats`; `preferences` are the notification preferences (muted, pinned)."""
    environment.require(CHATS, MEMBERS, USERS)
    return ChatService(DynamoChatStore(), preferences)
