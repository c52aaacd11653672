"""Where the API's bearer token comes from: a file named on the command line, else an environment variable.

Both ``lensdb serve`` (the token clients must send) and ``lensdb query`` (the token it sends) read it here.
"""

from __future__ import annotations

import os
from pathlib import Path

from lensdb.core.errors import InvalidInput

TOKEN_ENV = "LENSDB_API_TOKEN"


def read_token(token_file: str | None, env_name: str = TOKEN_ENV) -> str | None:
    """The token in ``token_file`` (surrounding blanks stripped) when given, else ``$env_name``; ``None`` when
    neither is given.

    An empty or blank token is an error, never "no token": a token file that came out empty (a failed secret mount, a
    typo in a path template) must not switch authentication off.

    Raises:
        InvalidInput: the file cannot be read, or the file or the variable holds no token.
    """
    if token_file is not None:
        path = Path(token_file)
        if path.is_dir():
            raise InvalidInput(f"the token file {token_file} is a folder; give the file that holds the token")
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            raise InvalidInput(f"cannot read the token file {token_file}: {why}") from exc
        if not token:
            raise InvalidInput(f"the token file {token_file} is empty: an empty token would switch authentication "
                               "off; write the token into it, or drop --token-file to serve without authentication")
        return token
    if env_name in os.environ:
        token = os.environ[env_name].strip()
        if not token:
            raise InvalidInput(f"${env_name} is set but empty: an empty token would switch authentication off; set "
                               f"it to the token, or unset it to serve without authentication")
        return token
    return None
