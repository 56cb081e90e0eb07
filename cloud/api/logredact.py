"""Keep one-time enrolment codes out of the access log.

Member links carry the code in the URL fragment (`/member/#member=…&code=…`), which browsers
never send. Links printed before that used the query string (`/member/?member=…&code=…`), and
uvicorn's access log (`uvicorn.access`) writes the path with its query string. This filter
rewrites those records before any handler formats them: the whole query of `/member` paths,
and the value of any `code` parameter on other paths, become `[redacted]`.

`install()` is idempotent and is called by `create_app`, so every server process (one worker,
`--workers N`, the demo) has it; uvicorn's logging setup keeps a logger's filters.
"""

from __future__ import annotations

import logging
import re
from typing import Final

ACCESS_LOGGER: Final = "uvicorn.access"
REDACTED: Final = "[redacted]"
# uvicorn's access record: '%s - "%s %s HTTP/%s" %d' with (client, method, path?query,
# http_version, status); the path is argument 2.
_PATH_ARG: Final = 2
_CODE_VALUE = re.compile(r"(?i)((?:^|[?&;])code=)[^&;#]*")


def redact_target(target: str) -> str:
    """The request target with secrets blanked: any query of `/member` and `/member/…`
    (member id and code), else the value of every `code=` parameter."""
    path, sep, query = target.partition("?")
    if not sep or not query:
        return target
    if path == "/member" or path.startswith("/member/"):
        return f"{path}?{REDACTED}"
    return path + "?" + _CODE_VALUE.sub(rf"\g<1>{REDACTED}", query)


class RedactQuery(logging.Filter):
    """Rewrites uvicorn access records in place; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > _PATH_ARG and isinstance(args[_PATH_ARG], str):
            target = args[_PATH_ARG]
            clean = redact_target(target)
            if clean != target:
                record.args = (*args[:_PATH_ARG], clean, *args[_PATH_ARG + 1 :])
        return True


def install(logger_name: str = ACCESS_LOGGER) -> RedactQuery:
    """Attach the filter to the access logger once; returns the attached filter."""
    logger = logging.getLogger(logger_name)
    for existing in logger.filters:
        if isinstance(existing, RedactQuery):
            return existing
    added = RedactQuery()
    logger.addFilter(added)
    return added
