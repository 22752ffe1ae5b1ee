"""Fuzz simpool's inputs: mutated scenarios and loan tapes through the real command line.

Every bad scenario or loan tape must end in exit code 2 with every problem printed to stderr
as ``file[:line]: dotted.path: message`` (the line may be absent when there is none, e.g. a
``--set`` value or a whole-file problem): never a traceback, a hang, a silently wrong
number or a partial output file. This package generates mutated inputs, runs each through
:func:`simpool.cli.main` in-process (``validate``, and for a sample also ``run --paths 50``)
and classifies the outcome:

``ok``
    exit 0 (and, for a run, complete output files with finite figures);
``error``
    a clean error: exit 2 and every stderr line shaped ``file[:line]: [path: ]message`` with a
    line number inside the file, and where the mutation is known to be bad, the problem
    reported at the mutated key's line (``folders``: a sequence whose last command is a
    refusal it expects);
``FAILURE``
    anything else: exit 1 ("internal error" or an I/O error for bad input), an exception
    escaping ``main``, exit 2 without a located message, a known-bad input accepted, a wrong
    line, a run that disagrees with ``validate``, a partial output folder (``summary.csv``
    after a nonzero exit; a missing, unreadable or non-finite file after exit 0), numeric
    warnings during a run, or a hang (per-case timeout).

Mutation kinds (``KINDS``):

``types``       wrong types for every kind of field (string for number, list for table, table
                for list, bool for number, control characters in names);
``missing``     a key or table removed;
``extra``       extra or misspelled keys at every level (``[[funds]]``, ``[[funds.stages]]``,
                ``[[stress]]``, ``[sweep]``, ``policy.sharing`` ...);
``numbers``     NaN / inf / negative / huge numbers (``1e308``, ``10**400`` as a TOML integer,
                ``"1e308亿"``);
``extremes``    a number at or just inside the edge its field allows, always simulated;
``combo``       two to four of the above at once;
``inflate``     a list made long (thousands of cohorts, pools, funds, sectors, thresholds);
``text``        whole-file damage: empty, binary junk, truncation, GBK, BOM, UTF-16, CRLF,
                doubled lines (duplicate keys), deep nesting, 10,000-digit integers, NUL bytes;
``extends``     cycles, missing bases, directories, FIFOs, NUL bytes, long names, bad bases;
``loans_file``  path traversal, absolute paths, directories, FIFOs, symlink loops, NUL bytes,
                long names, odd ``portfolio.encoding`` values;
``tape``        CSV tapes with bad rows (NaN, negative exposure, pd > 1, unknown sector, blank
                cells, extra fields; the reported line is checked), empty, header only, GBK,
                BOM, UTF-16, binary junk, zip/xls/Parquet bytes, other separators and line ends,
                guaranteed/insured rows with and without their guarantor/insurer;
``parquet``     Parquet tapes with bad values (``(row N)`` checked), odd types, no rows, damage;
``set``         bad ``--set`` and ``--stress`` flags;
``bigtape``     one 1,000,000-row CSV tape with one bad row near the end (its line checked);
``sweep``       ``simpool sweep`` with mutated axes: comma lists that read as one number with
                thousands separators (``1,500,000``, ``300,700``) and near misses (``1,50``),
                TOML arrays (valid, empty, malformed, nested, mixed types), no ``=``, no key
                or value, the same axis twice, unknown keys, bad values, seed and paths axes
                with and without ``--seed`` / ``--paths``, ``[sweep]`` tables of every shape,
                two files. The expected outcome is worked out from the documented rules:
                exit 0 with a complete folder (every file in the manifest with its SHA-256,
                the expected variants with their seeds and paths in batch.json, provenance and
                resolved scenarios, summary.csv one block of rows per variant equal to the
                variant's own file, and for some variants the numbers of a plain ``run`` of
                its values), or exit 2 with located messages naming the problem; never exit 1;
``folders``     commands in sequence into one ``--out``: a run into a sweep's folder and the
                reverse (exit 2, nothing changed), foreign files (notes, ``variants/0000.csv``,
                a bogus ``batch.json``), a bogus or truncated manifest, a stale lock, a lock
                held by a live process (exit 1 naming its pid, nothing changed), ``--fresh``,
                a variant or run file edited (GBK, Excel line ends, rounded values, cut,
                deleted: rerun, with a message), ``--format`` changed between reruns. After
                every command: no temporary or lock file; the manifest lists exactly the files
                of the command with their checksums; a file simpool did not write is never
                deleted or changed; a finished command's summary.csv is byte-identical to the
                same command's into an empty folder;
``taperows``    tape rows as people write them: repeated loan ids (``loan_id``, ``id``,
                借据号, ``name``, ...; ``allow_duplicate_ids``), repeating borrower names
                (借款人, 企业名称: ok), Excel total rows (合计, 总计, 小计, Total ... in any
                column, in the middle or at the end, unlabelled sums, GBK), amounts in 万元
                under a header without unit (a warning; with the unit in the header or the
                cells, the numbers of the same tape in yuan), product names in Chinese and
                English (the numbers of the same tape with canonical names) and unknown ones,
                guaranteed and insured rows with and without their guarantor / insurer, values
                outside the typical ranges (warnings at the first line). Every error and
                warning is checked at its line with its message.

The ``sweep``, ``folders`` and ``taperows`` kinds run their own commands (``Case.steps``)
or check more than the exit code (``Case.verify``); a usage message ``simpool: --flag ...``
counts as located at its flag.

Mutations start from the shipped scenarios (``scenarios/``, when this is a source checkout)
and from small synthetic ones that cover what those leave out (``[sweep]``, a
``policy.sharing`` table, stage outcomes, importance sampling, a loan tape).

Modules, each importing only those before it: ``core`` (:class:`Case`, :class:`Outcome`,
:func:`run_case`: a case run in-process and what came back classified), ``sources`` (the
scenarios and tapes mutations start from; TOML helpers), ``checks`` (output folders, summary
tables and refusal messages, for the kinds that run commands of their own),
``scenario_kinds`` (mutated scenario files, their bases and ``--set``), ``tape_kinds``
(mutated loan tapes; ``taperows``), ``sweep_kind`` and ``folders_kind`` (command sequences),
``campaign`` (:func:`generate`, :func:`fuzz`, the tally) and ``cli`` (the command line).

Command line::

    python -m simpool.testing.fuzz                       # 2,000 cases, seed 0, every kind
    python -m simpool.testing.fuzz --cases 50000 --seed 7 --run-fraction 0.05 --keep /tmp/fails
    python -m simpool.testing.fuzz --kinds tape parquet --cases 500
    python -m simpool.testing.fuzz --kinds sweep folders taperows --cases 3000 --seed 5

Exit status 0 when no case failed, 1 otherwise (each failure is printed with its reason).
"""

from __future__ import annotations

from .campaign import counts, format_counts, fuzz, generate
from .cli import main
from .core import KINDS, Case, Outcome, run_case
from .folders_kind import gen_folders
from .scenario_kinds import (INFLATE_SIZES, gen_combo, gen_extends, gen_extra, gen_extremes,
                             gen_inflate, gen_loans_file, gen_missing, gen_numbers, gen_set,
                             gen_text, gen_types)
from .sources import TAPE_SECTORS, Source, sources
from .sweep_kind import gen_sweep
from .tape_kinds import gen_bigtape, gen_parquet, gen_tape, gen_taperows

# not public, re-exported for tests/test_fuzz.py: simpool's command line in-process under a
# time limit, and the seed and paths of the scenario of the sweep and folders kinds
from .core import _call_main as _call_main
from .sources import _SWEEP_PATHS as _SWEEP_PATHS, _SWEEP_SEED as _SWEEP_SEED

__all__ = ["KINDS", "Case", "Outcome", "generate", "run_case", "fuzz", "main", "counts",
           "format_counts", "sources", "Source", "TAPE_SECTORS", "INFLATE_SIZES",
           "gen_types", "gen_missing", "gen_extra", "gen_numbers", "gen_extremes", "gen_combo",
           "gen_inflate", "gen_text", "gen_extends", "gen_loans_file", "gen_tape", "gen_parquet",
           "gen_set", "gen_bigtape", "gen_sweep", "gen_folders", "gen_taperows"]
