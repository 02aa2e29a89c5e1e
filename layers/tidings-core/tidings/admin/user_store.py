"""Profiles on the directory's user items."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from tidings.admin.service import UserProfile
from tidings.chats.models import UserModel


class DynamoUserStore:
    def put(self, profile: UserProfile) -> bool:
        # An update of an existing user first (the common case): it leaves the attributes other
        # features keep on the item as they are. A user that does not exist is created with a
        # conditional put; losing that race to a concurrent create means it exists: update it.
        for _ in range(2):
            if self._update(profile):
                return False
            try:
                self._item(profile).save(condition=UserModel.user_id.does_not_exist())
                return True
            except PutError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise
        raise RuntimeError(f"user {profile.user_id} was created and removed while it was being provisioned")

    def get(self, user_id: str) -> UserProfile | None:
        try:
            item = UserModel.get(user_id, consistent_read=True)
        except DoesNotExist:
            return None
        return UserProfile(item.user_id, item.display_name, item.email, item.avatar_url)

    def _update(self, profile: UserProfile) -> bool:
        actions: list[Action] = [
            UserModel.display_name.set(profile.display_name),
            UserModel.email.set(profile.email) if profile.email is not None else UserModel.email.remove(),
            (
                UserModel.avatar_url.set(profile.avatar_url)
                if profile.avatar_url is not None
                else UserModel.avatar_url.remove()
            ),
        ]
        try:
            UserModel(profile.user_id).update(actions=actions, condition=UserModel.user_id.exists())
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    @staticmethod
    def _item(profile: UserProfile) -> UserModel:
        return UserModel(
            user_id=profile.user_id,
            display_name=profile.display_name,
            email=profile.email,
            avatar_url=profile.avatar_url,
        )
