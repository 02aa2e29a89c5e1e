"""The push sender of each platform, built from the deployment's secrets.

A platform whose secret is absent or still holds the placeholder (`{}`) has no sender: its
subscriptions are skipped (and counted), never an error. The secret is re-read through
Powertools' cache, and the sender rebuilt when its value changes, so configuring FCM or APNs
(or a new VAPID key) takes effect in warm containers within the cache's age.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tidings.notifications.push_delivery import PushSender

SecretReader = Callable[[], str | None]
SenderFactory = Callable[[str | None], PushSender | None]


class ConfiguredSenders:
    def __init__(self, secrets: Mapping[str, SecretReader | None], factories: Mapping[str, SenderFactory]) -> None:
        self._secrets = dict(secrets)
        self._factories = dict(factories)
        self._built: dict[str, tuple[str | None, PushSender | None]] = {}

    def __call__(self, platform: str) -> PushSender | None:
        read = self._secrets.get(platform)
        factory = self._factories.get(platform)
        if read is None or factory is None:
            return None
        raw = read()
        built = self._built.get(platform)
        if built is not None and built[0] == raw:
            return built[1]
        sender = factory(raw)
        self._built[platform] = (raw, sender)
        return sender
