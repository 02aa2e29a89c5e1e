"""The web client, served by `tidings dev` at `/` (its files come from this repository).

Routes (GET and HEAD only; registered before the HTTP API's catch-all, so `/api`, `/admin`,
`/ws`, `/@connections`, `/_local` and `/healthz` are untouched):

- `/` and `/index.html`: `clients/web/index.html`;
- `/app/...`: the client's modules and styles (`clients/web/app/`);
- `/sdk/...`: the JavaScript SDK the client imports (`clients/js/src/`), the same layout the
  deployed copy has (`tidings_infra/web_client.py`);
- `/config.json`: where the client finds the APIs (this runtime's own `/ws` and HTTP API), plus
  the local sign-in: `POST /_local/sessions` and the users this runtime knows, for the
  client's sign-in page. The deployed `config.json` has no `localSignIn`.

Only files with a known extension are served, each with its content type; a directory, a
hidden file, a path that leaves its folder (`..`, symlinks) or an unknown extension is a 404
(no directory listings). Responses say `Cache-Control: no-cache` (a browser revalidates, so an
edited file shows at the next reload) and `X-Content-Type-Options: nosniff`; `Referrer-Policy:
no-referrer` keeps a `?token=` in the address bar out of other sites' logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

REPOSITORY = Path(__file__).resolve().parents[2]
WEB_ROOT = REPOSITORY / "clients" / "web"
SDK_ROOT = REPOSITORY / "clients" / "js" / "src"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
MAX_LISTED_USERS = 100  # the sign-in page lists these; more are reachable with ?as=USER

UserList = Callable[[], list[dict[str, str]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

logger = logging.getLogger(__name__)


def add_web_client_routes(
    app: web.Application,
    *,
    is_ready: Callable[[], bool],
    web_root: Path = WEB_ROOT,
    sdk_root: Path = SDK_ROOT,
    users: UserList | None = None,
) -> None:
    """Registers the client's routes on `app`; call it before any catch-all route. The users
    are listed once `is_ready()` (the tables exist and the demo data is loaded)."""
    list_users = users or _stored_users

    async def index(_: web.Request) -> web.StreamResponse:
        return _file(web_root, "index.html")

    async def config(request: web.Request) -> web.Response:
        # The host the browser used, so the client works on any --host/--port (and 0.0.0.0).
        known = await asyncio.get_running_loop().run_in_executor(None, list_users) if is_ready() else []
        body = {
            "webSocketUrl": f"ws://{request.host}/ws",
            "apiUrl": f"http://{request.host}",
            "localSignIn": {"sessionsUrl": "/_local/sessions", "users": known[:MAX_LISTED_USERS]},
        }
        return web.json_response(body, headers=HEADERS)

    app.router.add_get("/", index)
    app.router.add_get("/index.html", index)
    app.router.add_get("/config.json", config)
    app.router.add_get("/app/{path:.+}", _folder(web_root / "app"))
    app.router.add_get("/sdk/{path:.+}", _folder(sdk_root))


def _folder(root: Path) -> Handler:
    async def serve(request: web.Request) -> web.StreamResponse:
        return _file(root, request.match_info["path"])

    return serve


def _file(root: Path, relative: str) -> web.StreamResponse:
    """The file at `relative` under `root`, or a JSON 404 for anything else."""
    parts = relative.split("/")
    content_type = CONTENT_TYPES.get(Path(relative).suffix.lower())
    if content_type is None or any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return _not_found(relative)
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return _not_found(relative)
    return web.FileResponse(path, headers={**HEADERS, "Content-Type": content_type})


def _not_found(relative: str) -> web.Response:
    return web.json_response(
        {"error": {"code": "NOT_FOUND", "message": f"No such file: {relative}"}}, status=404, headers=HEADERS
    )


def _stored_users() -> list[dict[str, str]]:
    """The users in this runtime's Users table (moto), for the sign-in page: `--demo`'s five,
    or whatever was seeded."""
    from tidings.chats.models import UserModel

    try:
        users = [{"userId": u.user_id, "displayName": u.display_name or u.user_id} for u in UserModel.scan()]
    except Exception:  # a sign-in page without the list still takes ?as=USER
        logger.warning("the web client's sign-in page lists no users", exc_info=True)
        return []
    return sorted(users, key=lambda user: user["userId"])[:MAX_LISTED_USERS]
