"""Executors for the engine: a thread pool here, or a Dask cluster when one machine is not
enough (``--dask local`` starts a LocalCluster of worker processes, ``--dask tcp://host:port``
joins a running scheduler). The engine ships plain arrays to ``run_chunk``; random numbers are
keyed by the global path index, so results are bit-identical wherever the chunks run.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future, InvalidStateError
from contextlib import contextmanager

from ..errors import SimpoolError, UsageError

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

    def __init__(self, client, retries: int = DASK_RETRIES, local: bool = False):
        self.client = client
        self.retries = retries
        #: whether the workers run on this machine (a LocalCluster): their memory counts here
        self.local = local
        self._pending: set[Future] = set()  # futures not yet done
        self._shared: dict[int, tuple] = {}

    @property
    def dask_workers(self) -> int:
        """Worker processes of the cluster now (at least 1)."""
        try:
            return max(1, len(self.client.scheduler_info().get("workers", {})))
        except Exception:  # noqa: BLE001 - a count for the memory estimate only
            return 1

    def share(self, obj):
        """``obj`` sent to every worker once (a Dask future standing for it); tasks that take
        the future as an argument find it there, instead of carrying a copy each (the planned
        inputs of a 1M-loan tape are about 70 MiB)."""
        key = id(obj)
        if key not in self._shared or self._shared[key][0] is not obj:
            self._shared[key] = (obj, self.client.scatter(obj, broadcast=True, hash=False))
        return self._shared[key][1]

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


def check_address(dask: str) -> str | None:
    """Why ``dask`` is not a ``--dask`` value ('local' or a scheduler address), or None."""
    import re

    if dask == "local":
        return None
    if re.fullmatch(r"(?:(?:tcp|tls|ucx|inproc|ws|wss)://)?\[?[A-Za-z0-9_.:-]+\]?:\d{1,5}", dask):
        return None
    return (f"expected 'local' (a LocalCluster here) or a scheduler address such as "
            f"tcp://host:8786, got {dask!r}")


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
                from .runner import default_workers

                if dask_workers is not None and dask_workers < 1:
                    raise UsageError(f"--dask-workers: must be >= 1, got {dask_workers}")
                cluster = LocalCluster(n_workers=dask_workers or default_workers(),
                                       threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
                client = Client(cluster)
            else:
                why = check_address(dask)
                if why:
                    raise UsageError(f"--dask: {why}")
                client = Client(dask, timeout="10s")
        except (OSError, TimeoutError, ValueError) as e:
            if cluster is not None:
                cluster.close()
            if isinstance(e, UsageError):
                raise
            raise SimpoolError(f"cannot reach the Dask scheduler at {dask}: {e}") from None
        try:
            yield DaskExecutor(client, local=cluster is not None)
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
