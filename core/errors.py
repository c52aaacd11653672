"""The base of every error LensDB shows a user."""

import re


class LensDBError(Exception):
    """An error meant for the user: one message naming the problem and what to do about it.

    The CLI prints it as one line and exits with status 2; the gRPC layer maps its subclasses to status codes.
    """


class InvalidInput(LensDBError):
    """The caller's input is malformed (bad file, bad value, wrong shape)."""


class NotFound(LensDBError):
    """A named object, model, shard or collection does not exist."""


class Conflict(LensDBError):
    """The request contradicts what is stored (for example a shard changed since it was ingested)."""


class BackendUnavailable(LensDBError):
    """A backend (the relational database, Milvus) cannot be reached now; the same request may succeed later."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's text (at most ``limit`` characters), or its type name when it has none:
    enough to say what failed without pasting an engine's multi-line report into a user's message."""
    text = str(exc).strip().splitlines()
    return text[0][:limit] if text else type(exc).__name__


#: An absolute path in a message: a slash not preceded by a word character, a colon or another slash (so that
#: ``http://host/x`` stays whole), then everything up to a blank or a quote.
_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s'\"/,;()\[\]]+/)*([^\s'\"/,;()\[\]]+)")


def redact_paths(text: str) -> str:
    """``text`` with every absolute path cut to its last part: clients (of the API and the web page) see the names
    of files (a shard, a list, the Milvus file), never the server's folders."""
    return _PATH.sub(lambda m: m.group(1), text)
