"""The ``simpool`` command: :func:`main` parses the arguments, runs one command and maps
errors to exit codes (0 ok, 1 runtime or I/O error, 2 bad input, 130 interrupted);
:func:`entry` is the console script."""

from __future__ import annotations

import sys

from .commands import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, HANDLERS
from .console import _STRESS_FLAGS, _print_problems, _show_warning
from .parser import build_parser

def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``simpool`` command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage, 0 on --help
        return int(e.code or 0)
    if args.version:
        from .._version import __version__

        print(f"simpool {__version__}")
        return EXIT_OK
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    _STRESS_FLAGS[:] = getattr(args, "stress", None) or []
    if getattr(args, "stress", None):
        entries = []
        for text in args.stress:
            year, _, q = text.partition("=")
            try:
                entries.append(f"{{year = {int(year)}, quantile = {float(q)!r}, name = \"--stress {text}\"}}")
            except ValueError:
                print(f"--stress: expected YEAR=QUANTILE, e.g. 2026=0.01, got {text!r}", file=sys.stderr)
                return EXIT_BAD_INPUT
        args.overrides.append(f"stress=[{', '.join(entries)}]")
    from ..errors import ScenarioError, SimpoolError, UsageError

    handler = HANDLERS[args.command]
    import functools
    import warnings

    from ..analysis import labels

    try:
        # --lang: above SIMPOOL_LANG and the scenario's report.lang, for this command only
        labels.FLAG[0] = getattr(args, "lang", None)
        with warnings.catch_warnings():
            warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
            return handler(args)
    except ScenarioError as e:
        _print_problems(e.problems + e.warnings)
        return EXIT_BAD_INPUT
    except UsageError as e:
        print(f"simpool: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("simpool: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SimpoolError as e:
        print(f"simpool: {e}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as e:
        where = f" {e.filename}" if getattr(e, "filename", None) else ""
        print(f"simpool: I/O error{where}: {e.strerror or e}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # noqa: BLE001 - last line of defence: a message, not a traceback
        if args.debug:
            raise
        print(f"simpool: internal error: {type(e).__name__}: {e} (rerun with --debug for a traceback)",
              file=sys.stderr)
        return EXIT_ERROR
    finally:
        labels.FLAG[0] = None


def entry() -> None:
    """The ``simpool`` command and ``python -m simpool``: :func:`main`, then exit.

    Before the interpreter shuts down, every live object is moved to the garbage collector's
    permanent generation (``gc.freeze``): the process is ending, and the final collections over
    numba's and pandas' hundreds of thousands of objects would otherwise take 0.2-0.4 s of the
    command's wall time. Files are closed and flushed by then; nothing waits on a finalizer.
    """
    code = main()
    import gc

    gc.freeze()
    sys.exit(code)
