"""Profiles on the directory's user items, and the erasure's marks on them."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from tidings.admin.erasure import ErasureState
from tidings.admin.service import ErasureStart, UserProfile
from tidings.chats.models import UserModel
from tidings.kernel.errors import Conflict


class DynamoUserStore:
    def put(self, profile: UserProfile) -> bool:
        # An update of an existing user first (the common case): it leaves the attributes other
        # features keep on the item as they are. An erased user's tombstone is provisioned anew
        # (its revocation kept, so the tokens of before the erasure stay refused). A user that
        # does not exist is created with a conditional put; losing that race to a concurrent
        # create means it exists: update it.
        for _ in range(2):
            if self._update(profile, UserModel.user_id.exists() & UserModel.erasure.does_not_exist()):
                return False
            renewal: list[Action] = [UserModel.erasure.remove(), UserModel.erasure_at.remove()]
            if self._update(profile, UserModel.erasure == "erased", renewal):
                return True
            if self.state_of(profile.user_id) == "erasing":
                raise Conflict(f"User {profile.user_id!r} is being erased; provision it again once that is done")
            try:
                self._item(profile).save(condition=UserModel.user_id.does_not_exist())
                return True
            except PutError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise
        raise RuntimeError(f"user {profile.user_id} was created and removed while it was being provisioned")

    def get(self, user_id: str) -> UserProfile | None:
        """The profile; None for no user, or an erased one."""
        try:
            item = UserModel.get(user_id, consistent_read=True)
        except DoesNotExist:
            return None
        if item.erasure == "erased":
            return None
        return UserProfile(item.user_id, item.display_name, item.email, item.avatar_url, item.erasure == "erasing")

    # --- the erasure --------------------------------------------------------------------------

    def start_erasure(self, user_id: str, at: float) -> ErasureStart | None:
        """Marks the user erasing, and revokes what they hold (`revokedBefore`); None for no user."""
        try:
            UserModel(user_id).update(
                actions=[
                    UserModel.erasure.set("erasing"),
                    UserModel.erasure_at.set(at),
                    UserModel.revoked_before.set(int(at)),
                ],
                condition=UserModel.user_id.exists() & UserModel.erasure.does_not_exist(),
            )
            return "started"
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
        state = self.state_of(user_id)
        if state is None:  # the condition failed on no item: no such user
            return None
        return "running" if state == "erasing" else "completed"

    def state_of(self, user_id: str) -> ErasureState | None:
        try:
            item = UserModel.get(user_id, consistent_read=True, attributes_to_get=["userId", "erasure"])
        except DoesNotExist:
            return None
        return "erasing" if item.erasure == "erasing" else "erased" if item.erasure == "erased" else None

    def tombstone(self, user_id: str, at: float) -> None:
        # The display name becomes the id (what the directory shows for a user it has no name
        # for); the revocation stays, so no token of before the erasure works on a new user.
        actions: list[Action] = [
            UserModel.display_name.set(user_id),
            UserModel.email.remove(),
            UserModel.avatar_url.remove(),
            UserModel.notification_prefs.remove(),
            UserModel.total_unread.remove(),
            UserModel.total_mentions.remove(),
            UserModel.erasure.set("erased"),
            UserModel.erasure_at.set(at),
        ]
        try:
            UserModel(user_id).update(actions=actions, condition=UserModel.erasure == "erasing")
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise  # else erased already, or provisioned anew since: nothing to do

    @staticmethod
    def _update(profile: UserProfile, condition: Condition, also: list[Action] | None = None) -> bool:
        actions: list[Action] = [
            UserModel.display_name.set(profile.display_name),
            UserModel.email.set(profile.email) if profile.email is not None else UserModel.email.remove(),
            (
                UserModel.avatar_url.set(profile.avatar_url)
                if profile.avatar_url is not None
                else UserModel.avatar_url.remove()
            ),
            *(also or []),
        ]
        try:
            UserModel(profile.user_id).update(actions=actions, condition=condition)
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
