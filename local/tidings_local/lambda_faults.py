"""Fault injection inside a worker: the faults that must happen in the function's own process.

Loaded by `lambda_bootstrap` from this file (it is not on the function's `sys.path`) before the
handler is imported; standard library only at import. It patches three places, each when its
module is imported (at once if it already is), so that the fault reaches the code the way the
real failure would:

- `stream`: the record handler of Powertools' batch processors, which every stream consumer
  uses. `error` raises inside the handler (Powertools reports that record in
  `batchItemFailures`); `crash` raises a `BaseException` past Powertools, so the invocation dies
  after the records before it were handled, as a dying runtime does;
- `search`: the embedded search engine's SQLite connection raises `sqlite3.OperationalError`,
  which the engine turns into `SearchUnavailable` as it does for a real one;
- `push`: `requests` (pywebpush sends through a session) refuses the connection, or answers the
  injected status.

Whether a fault fires is decided by the main process, which holds the rules (`faults.py`), so
`p`, `count` and `record=N` mean the same for every worker: `decide(target, facts)` asks it and
answers the error of the rule that fired, or None. It is asked only while a rule for that
target is active (`active`, set by the bootstrap for each invocation).
"""

# Modules that import nothing the function's own folder could shadow (no typing).
import functools
import sys
from contextlib import contextmanager

active: set[str] = set()  # the targets with active rules, for the invocation running now
_decide = None


class InjectedFault(Exception):
    """The exception an injected `stream:error` raises inside a record handler."""


class InjectedCrash(BaseException):
    """An injected `stream:crash`: a `BaseException`, so that no `except Exception` in the
    handler (Powertools' per-record one included) stops it, as nothing stops a dying runtime."""


def install(decide):
    global _decide
    _decide = decide
    for name, patch in PATCHES.items():
        if name in sys.modules:
            patch(sys.modules[name])
    sys.meta_path.insert(0, _PatchOnImport())


def _fires(target, **facts):
    if target not in active or _decide is None:
        return None
    return _decide(target, facts)


# --- the patches -------------------------------------------------------------------------------


def _patch_batch_processors(module):
    processor = module.BasePartialProcessor
    call = processor.__call__

    def __call__(self, records, handler, lambda_context=None):
        return call(self, records, _with_record_faults(handler), lambda_context)

    processor.__call__ = __call__


def _with_record_faults(handler):
    @functools.wraps(handler)  # Powertools reads the signature for `lambda_context`
    def record_handler(record, **kwargs):
        raw = getattr(record, "raw_event", None)
        change = raw.get("dynamodb") if isinstance(raw, dict) else None
        if isinstance(change, dict) and "stream" in active:
            sequence_number = change.get("SequenceNumber")
            chat = (change.get("Keys") or {}).get("chatId") or (change.get("NewImage") or {}).get("chatId") or {}
            error = _fires("stream", record=sequence_number, chat=chat.get("S"))
            if error == "crash":
                raise InjectedCrash(f"injected crash on record {sequence_number}")
            if error is not None:
                raise InjectedFault(f"injected failure of record {sequence_number}")
        return handler(record=record, **kwargs)

    return record_handler


def _patch_search_engine(module):
    engine = module.EmbeddedSearchEngine
    database = engine._db

    @contextmanager
    def _db(self):
        with database(self) as connection:
            if _fires("search") is not None:
                import sqlite3

                raise sqlite3.OperationalError("disk I/O error (injected fault)")
            yield connection

    engine._db = _db


def _patch_requests(module):
    session = module.Session
    send = session.send

    from urllib.parse import urlsplit

    def faulty_send(self, request, **kwargs):
        host = urlsplit(request.url or "").hostname
        error = _fires("push", host=host)
        if error is None:
            return send(self, request, **kwargs)
        import requests

        if error == "down":
            raise requests.ConnectionError(f"connection to {host} refused (injected fault)", request=request)
        response = requests.Response()
        response.status_code, response.reason = int(error), "Injected fault"
        response.request, response.url, response._content = request, request.url or "", b""
        return response

    session.send = faulty_send


PATCHES = {
    "aws_lambda_powertools.utilities.batch.base": _patch_batch_processors,
    "tidings.search.embedded_engine": _patch_search_engine,
    "requests.sessions": _patch_requests,
}


class _PatchOnImport:
    """A `sys.meta_path` finder: finds the patched modules with the other finders and patches
    each once it has run."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                exec_module = spec.loader.exec_module

                def exec_and_patch(module, exec_module=exec_module):
                    exec_module(module)
                    PATCHES[fullname](module)

                spec.loader.exec_module = exec_and_patch  # type: ignore[method-assign]
                return spec
        return None
