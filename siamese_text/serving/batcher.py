"""Dynamic batching: texts of concurrent requests gathered into one batch, run off the event loop.

Requests put their texts in a queue and await a future. One worker takes the first waiting request,
gathers more until ``max_batch_size`` texts or ``max_wait_ms`` after the first arrived (it waits only
when the last batch had more than one request, so a lone client never waits), runs the
forward in a worker thread (so the event loop, and ``/health``, keep answering) and hands each
request its own rows. While a forward runs, new requests queue up and go together into the next one,
so the busier the server, the fuller its batches. :meth:`DynamicBatcher.close` stops taking requests
and finishes every queued one before it returns.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DynamicBatcher", "BatcherClosed", "Forward"]

# texts -> (embeddings: n x dim float32, tokens: n ints, each text's length before truncation)
Forward = Callable[[list[str]], tuple[np.ndarray, np.ndarray]]


class BatcherClosed(RuntimeError):
    """The server is shutting down and takes no new work."""


@dataclass
class _Request:
    texts: list[str]
    future: asyncio.Future = field(repr=False)
    queued_at: float = 0.0


class DynamicBatcher:
    """Gathers the texts of concurrent :meth:`submit` calls into batches of up to ``max_batch_size`` texts.

    ``batching=False`` runs one forward per request (never gathered), the baseline batching is measured
    against. ``on_batch(texts, seconds)`` and ``on_queue(texts_waiting)`` report to the metrics.
    """

    def __init__(self, forward: Forward, *, max_batch_size: int = 64, max_wait_ms: float = 5.0, batching: bool = True,
                 on_batch: Callable[[int, float], None] | None = None,
                 on_queue: Callable[[int], None] | None = None) -> None:
        self.forward = forward
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.batching = batching
        self._on_batch = on_batch or (lambda size, seconds: None)
        self._on_queue = on_queue or (lambda depth: None)
        self._pending: collections.deque[_Request] = collections.deque()
        self._queued_texts = 0
        self._wakeup: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self._company = True  # whether the last batch gathered more than one request

    # ---- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker on the running event loop (call from inside it, e.g. in the app's lifespan)."""
        if self._worker is not None:
            return
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="siamtext-forward")
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="siamtext-batcher")

    async def close(self) -> None:
        """Take no new requests, finish every queued one, then stop the worker and its thread."""
        self._closing = True
        if self._worker is None:
            return
        self._wakeup.set()
        await self._worker
        self._executor.shutdown(wait=True)

    @property
    def queued_texts(self) -> int:
        """Texts waiting for a forward (not those in the one running)."""
        return self._queued_texts

    # ---- requests -----------------------------------------------------------------------------

    async def submit(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The embeddings and token counts of ``texts``, computed in a batch with whatever else is waiting."""
        if self._closing or self._worker is None:
            raise BatcherClosed("the server is shutting down and takes no new requests")
        if not texts:
            raise ValueError("submit at least one text")
        request = _Request(list(texts), asyncio.get_running_loop().create_future(), time.perf_counter())
        self._pending.append(request)
        self._queued_texts += len(texts)
        self._on_queue(self._queued_texts)
        self._wakeup.set()
        return await request.future

    # ---- the worker ---------------------------------------------------------------------------

    def _take(self) -> _Request:
        request = self._pending.popleft()
        self._queued_texts -= len(request.texts)
        self._on_queue(self._queued_texts)
        return request

    async def _wait_for_work(self, timeout: float | None) -> bool:
        """Whether a request is waiting, after waiting up to ``timeout`` seconds (None: until one comes or close)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self._pending:
            if self._closing:
                return False
            self._wakeup.clear()
            if deadline is None:
                await self._wakeup.wait()
                continue
            left = deadline - loop.time()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self._wakeup.wait(), left)
            except TimeoutError:
                return bool(self._pending)
        return True

    def _gather_now(self, batch: list[_Request], size: int) -> int:
        while self._pending and size + len(self._pending[0].texts) <= self.max_batch_size:
            request = self._take()
            batch.append(request)
            size += len(request.texts)
        return size

    async def _gather(self) -> list[_Request]:
        """The next batch: the oldest request, then others while they fit, waiting at most ``max_wait`` for them."""
        batch = [self._take()]
        if not self.batching:
            return batch
        size = self._gather_now(batch, len(batch[0].texts))
        deadline = batch[0].queued_at + self.max_wait
        # wait for company only when the last batch had some: a lone client is never kept waiting
        while self._company and size < self.max_batch_size and not self._closing:
            left = deadline - time.perf_counter()
            if self._pending or left <= 0 or not await self._wait_for_work(left):
                break
            size = self._gather_now(batch, size)
        self._company = len(batch) > 1
        return batch

    async def _run(self) -> None:
        while await self._wait_for_work(None) or self._pending:
            batch = await self._gather()
            await self._forward(batch)

    async def _forward(self, batch: list[_Request]) -> None:
        texts = [text for request in batch for text in request.texts]
        started = time.perf_counter()
        try:
            embeddings, tokens = await asyncio.get_running_loop().run_in_executor(self._executor, self.forward, texts)
        except Exception as exc:  # noqa: BLE001 - every request of the batch gets the error, the worker goes on
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        self._on_batch(len(texts), time.perf_counter() - started)
        start = 0
        for request in batch:
            end = start + len(request.texts)
            if not request.future.done():  # a client that went away cancelled its future
                request.future.set_result((embeddings[start:end], tokens[start:end]))
            start = end

