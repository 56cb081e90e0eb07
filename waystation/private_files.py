"""Secrets on disk (broker password files, keys, env files with passwords): written so that
they never exist, even for a moment, readable by more than their owner."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_private_file(path: Path, data: bytes | str, *, mode: int = 0o600) -> None:
    """Write `path` so that it never exists with a wider mode than `mode`: a new file is
    created with that mode (exclusively, not through a link) and renamed over the old one."""
    body = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)  # the umask may only have narrowed it
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
