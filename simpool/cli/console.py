"""What the command line prints besides results: problems, warnings, the progress bar."""

from __future__ import annotations

import sys


#: The ``--stress`` texts of the command being run (main() sets it): problems in the
#: ``stress`` table then name the flag that wrote it, not ``--set`` or the file.
_STRESS_FLAGS: list[str] = []


def _located(prob):
    """``prob``, relabelled to the ``--stress YEAR=QUANTILE`` it came from if any."""
    import dataclasses
    import re

    m = re.match(r"stress\.(\d+)(?:\.(.*))?$", prob.path)
    if not _STRESS_FLAGS or not m or int(m.group(1)) >= len(_STRESS_FLAGS):
        return prob
    return dataclasses.replace(prob, file=f"--stress {_STRESS_FLAGS[int(m.group(1))]}",
                               line=None, path=m.group(2) or "")


def _warn(message: str) -> None:
    """A warning about the command's settings, on stderr."""
    print(f"simpool: warning: {message}", file=sys.stderr)


def _show_warning(original, message, category, filename, lineno, file=None, line=None) -> None:
    """warnings.showwarning: simpool's own warnings as ``simpool: warning: ...`` lines."""
    from ..errors import SimpoolWarning

    if issubclass(category, SimpoolWarning):
        _warn(str(message))
    else:
        original(message, category, filename, lineno, file, line)


def _print_problems(problems, stream=None) -> None:
    stream = stream or sys.stderr
    for prob in problems:
        print(str(_located(prob)), file=stream)


#: Seconds after the chunks start, with none finished and no kernel compiled, after which
#: the bar says the kernels are compiling
COMPILE_HINT_AFTER_S = 1.0
COMPILE_HINT = "compiling the kernels (once per simpool version and machine; cached after)"
#: tqdm's minimum seconds between redraws
BAR_MININTERVAL = 0.1


def _kernels_compiled() -> bool:
    """Whether this process holds the simulation kernels compiled (or loaded from the cache)."""
    from ..engine.fundkernels import fund_chunk
    from ..engine.waterfall import waterfall_chunk

    return bool(waterfall_chunk.signatures or fund_chunk.signatures)


def _progress_bar(total: int, quiet: bool, compile_hint: bool = True):
    """A tqdm bar on a terminal, nothing otherwise. Returns (callback, close).

    The engine calls back with 0 done when the chunks start (after planning). A cold numba
    cache then makes the first chunk wait ~20 s for compilation: when none has finished after
    :data:`COMPILE_HINT_AFTER_S` and this process holds no compiled kernel, the bar says so
    instead of sitting at 0 as if stuck. ``compile_hint=False`` where the chunks run
    elsewhere (Dask workers), since this process then never compiles.
    """
    if quiet or not sys.stderr.isatty():
        return None, lambda: None
    import threading

    from tqdm import tqdm

    bar = tqdm(total=total, unit="path", unit_scale=True, desc="simulating", file=sys.stderr,
               leave=False, mininterval=BAR_MININTERVAL)
    lock = threading.Lock()
    state = {"timer": None, "hinted": False, "finished_one": False}

    def hint() -> None:
        with lock:
            if state["finished_one"] or _kernels_compiled():
                return
            state["hinted"] = True
            bar.set_description_str(COMPILE_HINT)

    def update(done: int, _total: int) -> None:
        with lock:
            if done == 0:  # the chunks have started
                if compile_hint and state["timer"] is None and not state["finished_one"]:
                    timer = threading.Timer(COMPILE_HINT_AFTER_S, hint)
                    timer.daemon = True
                    state["timer"] = timer
                    timer.start()
                return
            state["finished_one"] = True
            if state["timer"] is not None:
                state["timer"].cancel()
            if state["hinted"]:
                state["hinted"] = False
                bar.set_description_str("simulating", refresh=False)
            bar.update(done - bar.n)

    def close() -> None:
        with lock:
            state["finished_one"] = True
            if state["timer"] is not None:
                state["timer"].cancel()
        bar.close()

    return update, close
