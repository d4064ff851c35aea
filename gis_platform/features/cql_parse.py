"""CQL2 text or JSON → normalised CQL2-JSON, parsed by the ``cql2`` package (the reference Rust parser).

The parser recurses once per nesting level, a few KiB of native stack each, and would crash the
process on a deeply nested filter: it runs in a private thread with a large stack, on inputs of
bounded length, and its output's depth is checked before anything walks it.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cql2
import orjson

from gis_platform.errors import InvalidParameter

MAX_FILTER_CHARS = 16_384
MAX_DEPTH = 120
# With MAX_FILTER_CHARS at most ~8,000 levels: far below what this stack holds.
_PARSER_STACK_BYTES = 512 * 1024 * 1024
_parser: ThreadPoolExecutor | None = None
_parser_lock = threading.Lock()
#: Filters parsed recently (their normalised CQL2-JSON as bytes): a client paging through a filtered
#: layer sends the same filter again and again, and each parse costs a hand-off to the parser thread.
_PARSED: dict[tuple[str, str], bytes] = {}
_PARSED_SIZE = 256
_PARSED_MAX_CHARS = 4096


def _bad(detail: str) -> InvalidParameter:
    return InvalidParameter("filter", detail)


def _parser_pool() -> ThreadPoolExecutor:
    global _parser
    with _parser_lock:
        if _parser is None:
            previous = threading.stack_size(_PARSER_STACK_BYTES)
            try:
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cql2-parser")
                pool.submit(lambda: None).result()  # start the thread now, with the large stack
            finally:
                threading.stack_size(previous)
            _parser = pool
    return _parser


def _depth(node: Any) -> int:
    """Nesting depth of a JSON value, computed without recursion."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        value, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        if isinstance(value, dict):
            stack.extend((v, level + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, level + 1) for v in value)
    return deepest


def _parse_sync(text: str, lang: str) -> Any:
    try:
        # No ``Expr.validate()``: its JSON-Schema check grows exponentially with nesting (a DoS);
        # the compiler below checks every operator's arguments and types itself.
        if lang == "cql2-text":
            expr = cql2.parse_text(text)
        else:
            expr = cql2.Expr(orjson.loads(text))
        return expr.to_json()
    except orjson.JSONDecodeError as exc:
        raise _bad(f"The filter is not valid JSON: {exc}") from None
    except Exception as exc:  # the parser raises plain Exceptions with a pest message
        first = " ".join(str(exc).split())[:300]
        raise _bad(f"Malformed {lang} filter: {first}") from None


async def parse_filter(text: str, lang: str) -> Any:
    """Parse CQL2 text or JSON into normalised CQL2-JSON; :class:`InvalidParameter` when it is not CQL2."""
    if len(text) > MAX_FILTER_CHARS:
        raise _bad(f"The filter is longer than {MAX_FILTER_CHARS} characters.")
    if lang == "cql2-json":
        try:
            raw = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise _bad(f"The filter is not valid JSON: {exc}") from None
        if isinstance(raw, bool):
            return raw
        if not isinstance(raw, dict):
            raise _bad("A cql2-json filter is a JSON object.")
        if _depth(raw) > MAX_DEPTH:
            raise _bad("The filter is nested too deeply.")
    key = (lang, text)
    known = _PARSED.get(key)
    if known is not None:
        return orjson.loads(known)  # a fresh copy: callers may keep or change what they get
    loop = asyncio.get_running_loop()
    parsed = await loop.run_in_executor(_parser_pool(), _parse_sync, text, lang)
    if _depth(parsed) > MAX_DEPTH:
        raise _bad("The filter is nested too deeply.")
    if len(text) <= _PARSED_MAX_CHARS:
        _remember(key, parsed)
    return parsed


def _remember(key: tuple[str, str], parsed: Any) -> None:
    """Keep a parse whose JSON reads back the same (not NaN, infinities or integers beyond 64 bits)."""
    try:
        dumped = orjson.dumps(parsed)
    except (TypeError, orjson.JSONEncodeError):
        return
    if orjson.loads(dumped) != parsed:
        return
    if len(_PARSED) >= _PARSED_SIZE:
        _PARSED.pop(next(iter(_PARSED)))
    _PARSED[key] = dumped
