"""The application: the features, composed once.

Both `infra/` (CDK) and `tidings_local` (`tidings dev`) build from `APPLICATION`. To add a
route: write the handler under `functions/<feature>/`, declare its `Function` and `Route` in
that feature's `declaration.py`, and both runtimes pick it up.
"""

from __future__ import annotations

from tidings.admin import declaration as admin
from tidings.attachments import declaration as attachments
from tidings.chats import declaration as chats
from tidings.kernel.declaration import compose
from tidings.messaging import declaration as messaging
from tidings.notifications import declaration as notifications
from tidings.presence import declaration as presence
from tidings.search import declaration as search
from tidings.sessions import declaration as sessions

APPLICATION = compose(
    sessions.FEATURE,
    chats.FEATURE,
    messaging.FEATURE,
    presence.FEATURE,
    notifications.FEATURE,
    search.FEATURE,
    admin.FEATURE,
    attachments.FEATURE,
)
