"""Single flight: concurrent requests for one key share the work of the first (tiles, statistics joins)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


async def lead(inflight: dict[K, asyncio.Future[T]], key: K, work: Awaitable[T]) -> T:
    """Do ``work`` for ``key``; requests that find ``inflight[key]`` meanwhile wait on its future.

    The future carries the result, the error (marked retrieved: an error no follower saw is not logged
    as lost) or the cancellation of this request; the key leaves ``inflight`` either way.
    """
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    inflight[key] = future
    try:
        result = await work
    except asyncio.CancelledError:
        future.cancel()
        raise
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()
        raise
    finally:
        del inflight[key]
    future.set_result(result)
    return result


__all__ = ["lead"]
