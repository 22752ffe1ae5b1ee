"""Executors for the engine: a thread pool here, or a Dask cluster when one machine is not
enough (``--dask local`` starts a LocalCluster of worker processes, ``--dask tcp://host:port``
joins a running scheduler). The engine ships plain arrays to ``run_chunk``; random numbers are
keyed by the global path index, so results are bit-identical wherever the chunks run.
"""

from __future__ import annotations

from contextlib import contextmanager

from .errors import SimpoolError


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
            yield client.get_executor()
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
