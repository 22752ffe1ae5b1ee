"""Executors for the engine: a thread pool here, or a Dask cluster when one machine is not
enough (``--dask local`` starts a LocalCluster of worker processes, ``--dask tcp://host:port``
joins a running scheduler). The engine ships plain arrays to ``run_chunk``; random numbers are
keyed by the global path index, so results are bit-identical wherever the chunks run.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future, InvalidStateError
from contextlib import contextmanager

from .errors import SimpoolError

#: Times a chunk is rerun when its task fails (a worker lost mid-task, say) before the error
#: reaches the caller.
DASK_RETRIES = 2


class DaskExecutor(Executor):
    """A :class:`concurrent.futures.Executor` over a Dask ``Client``.

    Each ``submit`` is a ``client.submit(..., pure=False, retries=DASK_RETRIES)`` whose
    outcome is copied to a standard :class:`~concurrent.futures.Future`. Written here rather
    than using ``Client.get_executor()``, whose futures fail with a ``ValueError`` of their
    own ("too many values to unpack") when a finished chunk's worker dies before its result
    is fetched (the task's state is then "lost" until the scheduler reruns it), and which
    never retries. Here a lost task is waited for again; a failed one is retried
    ``retries`` times, then its own exception reaches the caller. Cancelling a future (or
    ``shutdown(cancel_futures=True)``) cancels its task.
    """

    def __init__(self, client, retries: int = DASK_RETRIES):
        self.client = client
        self.retries = retries
        self._pending: set[Future] = set()  # futures not yet done

    def submit(self, fn, /, *args, **kwargs) -> Future:
        task = self.client.submit(fn, *args, pure=False, retries=self.retries, **kwargs)
        fut = _TaskFuture(task)
        self._pending.add(fut)

        def copy_outcome(t) -> None:  # runs in the client's callback thread
            if fut.done():
                self._pending.discard(fut)
                return
            try:
                if t.status == "finished":
                    try:
                        result = t.result()
                    except Exception:
                        if t.status in ("lost", "pending"):  # its worker died meanwhile
                            t.add_done_callback(copy_outcome)
                            return
                        raise
                    fut.set_result(result)
                elif t.status == "cancelled":
                    fut.cancel()
                elif t.status == "error":
                    fut.set_exception(t.exception())
                else:  # "lost" with its worker: the scheduler reruns it; wait for that
                    t.add_done_callback(copy_outcome)
                    return
            except InvalidStateError:  # cancelled by the caller meanwhile
                pass
            except BaseException as e:  # the result could not be fetched
                try:
                    fut.set_exception(e)
                except InvalidStateError:
                    pass
            self._pending.discard(fut)

        task.add_done_callback(copy_outcome)
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for fut in list(self._pending):
                fut.cancel()


class _TaskFuture(Future):
    """A Future that cancels its Dask task when cancelled."""

    def __init__(self, task):
        super().__init__()
        self._task = task

    def cancel(self) -> bool:
        self._task.cancel()
        return super().cancel()


@contextmanager
def open_executor(threads: int | None = None, dask: str | None = None,
                  dask_workers: int | None = None):
    """Yield an executor (None = the engine's default thread pool) and close it afterwards."""
    if dask:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SimpoolError("--dask needs the dask extra: pip install 'simpool[dask]'") from None
        cluster = None
        try:
            if dask == "local":
                from .engine import default_workers

                cluster = LocalCluster(n_workers=dask_workers or default_workers(),
                                       threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
                client = Client(cluster)
            else:
                client = Client(dask, timeout="10s")
        except (OSError, TimeoutError) as e:
            if cluster is not None:
                cluster.close()
            raise SimpoolError(f"cannot reach the Dask scheduler at {dask}: {e}") from None
        try:
            yield DaskExecutor(client)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        return
    if threads:
        from concurrent.futures import ThreadPoolExecutor

        ex = ThreadPoolExecutor(max_workers=threads)
        try:
            yield ex
        finally:
            ex.shutdown(cancel_futures=True)
        return
    yield None
