"""Where the API's bearer token comes from: a file named on the command line, else an environment variable.

Both ``lensdb serve`` (the token clients must send) and ``lensdb query`` (the token it sends) read it here.
"""

from __future__ import annotations

import os

from lensdb.core.errors import InvalidInput

TOKEN_ENV = "LENSDB_API_TOKEN"


def read_token(token_file: str | None, env_name: str = TOKEN_ENV) -> str | None:
    """The token in ``token_file`` (surrounding blanks stripped) when given, else ``$env_name``; ``None`` for none."""
    if token_file:
        try:
            with open(token_file) as f:
                return f.read().strip() or None
        except OSError as exc:
            raise InvalidInput(f"cannot read the token file {token_file}: {exc.strerror}") from exc
    return os.environ.get(env_name) or None
