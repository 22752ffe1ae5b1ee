"""Batch runs that never lose work: one result file per finished variant, resumable.

Layout of an output folder (held by one command at a time: :mod:`simpool.outputs.outdir`)::

    simpool-manifest.json       every file simpool wrote here, with its SHA-256
    batch.json                  fingerprint of the inputs, the variants, their seeds and paths
    variants/0000.csv           summary of variant 0 (tidy, UTF-8 with BOM), written atomically
    variants/0000.resolved.toml the variant's resolved scenario
    variants/0000.json          its provenance
    summary.csv                 every variant's rows with a ``variant`` column (+ one column
                                per swept key); also summary.parquet / summary.xlsx on request

Rerunning the same command resumes: a variant is skipped only when its files are the ones
simpool wrote (checksums in the manifest) for the same fingerprint (its resolved scenario,
seed, paths, simpool version and kernel sources); one edited since (a CSV re-saved by Excel)
is rerun, and said so. The final table is built from the verified variant files, so it
equals that of an uninterrupted run. A folder made by a different batch is refused
(``fresh=True`` deletes the files the manifest lists and starts afresh).
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import Executor
from pathlib import Path
from typing import Callable

from ..errors import SimpoolError
from .files import atomic_write_bytes

FORMATS = ("csv", "parquet", "xlsx")


def variant_fingerprint(variant, seed: int, paths: int) -> str:
    """SHA-256 of everything that fixes a variant's numbers."""
    from .._version import __version__
    from ..engine._jit import source_hash
    from ..scenario.load import resolved_toml

    h = hashlib.sha256()
    for part in (resolved_toml(variant.scenario).split("\n", 2)[-1], str(seed), str(paths),
                 __version__, source_hash()):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    if variant.scenario.tape is not None and variant.scenario.portfolio.loans_file:
        from .files import _file_sha256

        p = Path(variant.scenario.portfolio.loans_file)
        full = p if p.is_absolute() else Path(variant.scenario._base_dir) / p
        h.update(_file_sha256(full).encode())
    return h.hexdigest()


def _manifest(variants, seeds: list[int], paths: list[int]) -> dict:
    items = [{"index": i, "label": v.label, "file": v.file, "params": v.params,
              "seed": seeds[i], "paths": paths[i],
              "fingerprint": variant_fingerprint(v, seeds[i], paths[i])}
             for i, v in enumerate(variants)]
    whole = hashlib.sha256("".join(x["fingerprint"] for x in items).encode()).hexdigest()
    same = len(set(seeds)) == 1 and len(set(paths)) == 1
    return {"fingerprint": whole, "seed": seeds[0] if same else None,
            "paths": paths[0] if same else None, "variants": items}


def _check_folder(folder, manifest: dict, fresh: bool, log: Callable[[str], None]) -> None:
    """Refuse a folder whose (verified) batch.json is another batch's; with ``fresh`` delete
    every file the folder's manifest lists first (never a file simpool did not write)."""
    if fresh:
        n = folder.clear()
        if n:
            log(f"--fresh: removed the {n} files of the previous batch in {folder.path}")
        return
    data = folder.verified("batch.json")
    if data is None:
        if folder.changed("batch.json"):
            log(f"{folder.path / 'batch.json'} was changed after simpool wrote it: it is not "
                "trusted; every variant is checked against its own fingerprint")
        return
    try:
        old = json.loads(data.decode("utf-8"))
    except ValueError:
        return
    if old.get("fingerprint") == manifest["fingerprint"]:
        return
    why = []
    old_items, new_items = old.get("variants", []), manifest["variants"]
    for key in ("seed", "paths"):
        a = sorted({str(v.get(key, old.get(key))) for v in old_items})
        b = sorted({str(v[key]) for v in new_items})
        if a != b:
            why.append(f"{key} {','.join(a)} -> {','.join(b)}")
    if [v.get("label") for v in old_items] != [v["label"] for v in new_items]:
        why.append("other variants")
    if not why:
        why.append("a different scenario: the resolved inputs differ")
    raise SimpoolError(f"{folder.path}: made by a different batch ({'; '.join(why)}); rerun "
                       "with --fresh to start afresh, or choose another --out")


def _variant_names(i: int) -> tuple[str, str, str]:
    stem = f"variants/{i:04d}"
    return f"{stem}.csv", f"{stem}.json", f"{stem}.resolved.toml"


def _finished(folder, i: int, fingerprint: str, log: Callable[[str], None]) -> bool:
    """Whether variant ``i`` is in the folder as simpool wrote it for this fingerprint."""
    names = _variant_names(i)
    csv_name, json_name, toml_name = names
    js = folder.verified(json_name)
    if folder.verified(csv_name) is not None and js is not None and \
            folder.verified(toml_name) is not None:
        try:
            if json.loads(js.decode("utf-8")).get("fingerprint") == fingerprint:
                return True
        except ValueError:
            pass
    for name in names:
        if folder.changed(name):
            log(f"{folder.path / name} was changed after simpool wrote it (its checksum "
                f"differs): rerunning variant {i}")
            break
    return False


def run_batch(variants, out: str | Path, *, paths: int | None = None, seed: int | None = None,
              fresh: bool = False, formats: tuple[str, ...] = ("csv",),
              executor: Executor | None = None, chunk_size: int | None = None,
              progress: bool = False, on_variant: Callable[[int, str, bool], None] | None = None,
              folder=None, log: Callable[[str], None] | None = None,
              max_memory: int | None = None):
    """Run every variant into ``out`` (resuming); return the combined tidy table.

    Each variant runs with its own ``simulation.seed`` and ``simulation.paths`` (a sweep over
    either is how Monte Carlo noise is looked at); ``paths`` and ``seed``, when given, apply
    to every variant. Variants sharing a seed share random numbers (common random numbers).
    ``on_variant(index, label, skipped)`` is called after each variant; ``log`` gets notes
    (a changed file rerun, files removed by ``fresh``). ``folder``: an open
    :class:`~simpool.outputs.outdir.OutputFolder` of kind ``sweep`` (default: ``out`` is opened,
    and locked, for the call).
    """
    from .outdir import OutputFolder

    if not variants:
        raise SimpoolError("no variants to run")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise SimpoolError(f"unknown format {', '.join(bad)}; choose from {', '.join(FORMATS)}")
    if folder is None:
        with OutputFolder(out, "sweep") as own:
            return run_batch(variants, out, paths=paths, seed=seed, fresh=fresh, formats=formats,
                             executor=executor, chunk_size=chunk_size, progress=progress,
                             on_variant=on_variant, folder=own, log=log, max_memory=max_memory)
    log = log or (lambda msg: None)
    seeds = [int(v.scenario.simulation.seed if seed is None else seed) for v in variants]
    counts = [int(paths or v.scenario.simulation.paths) for v in variants]
    manifest = _manifest(variants, seeds, counts)
    _check_folder(folder, manifest, fresh, log)
    _check_memory(variants, counts, executor, chunk_size, max_memory)
    folder.write("batch.json", (json.dumps(manifest, indent=2, ensure_ascii=False, default=str)
                                + "\n").encode(), complete=False)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(variants), unit="variant", desc="variants", leave=False)
    try:
        for i, v in enumerate(variants):
            fingerprint = manifest["variants"][i]["fingerprint"]
            done = _finished(folder, i, fingerprint, log)
            if not done:
                _run_variant(folder, i, v, seeds[i], counts[i], fingerprint, executor, chunk_size,
                             max_memory, log)
            if bar is not None:
                bar.update(1)
            if on_variant is not None:
                on_variant(i, v.label, done)
    finally:
        if bar is not None:
            bar.close()
    table = combine(folder, manifest)
    files = table_files({"summary": table, "variants": variants_table(manifest)}, formats)
    for name, data in files.items():
        folder.write(name, data, save=False)
    stale = [n for n in folder.files if "/" not in n and n.split(".", 1)[0] in
             ("summary", "variants") and n not in files]
    for name in stale:  # an earlier run's other formats of the same batch
        folder.remove(name)
    folder.save(complete=True)
    return table


def _check_memory(variants, counts: list[int], executor, chunk_size, max_memory) -> None:
    """Every variant fits in memory, checked before any runs (one check per shape of
    variant: path count, years and numbers of entities)."""
    from ..analysis.simulation import prepare
    from ..engine.plan import plan

    seen = set()
    for v, paths in zip(variants, counts):
        sc = v.scenario
        key = (paths, sc.simulation.horizon_years, len(sc.cohorts), len(sc.banks),
               len(sc.guarantors), len(sc.pools), len(sc.insurers), len(sc.funds), id(sc.tape))
        if key not in seen:
            seen.add(key)
            prepare(sc, plan(sc), paths, keep="summary", executor=executor,
                    chunk_size=chunk_size, max_memory=max_memory,
                    what=f"the sweep's variant {v.label}")


def _run_variant(folder, i: int, v, seed: int, paths: int, fingerprint: str, executor,
                 chunk_size, max_memory=None, log=None) -> None:
    from ..analysis.simulation import simulate
    from .files import provenance, summary_csv
    from ..scenario.load import resolved_toml

    csv_name, json_name, toml_name = _variant_names(i)
    folder.remove(csv_name)  # the marker goes first: a kill below leaves the variant unfinished
    t0 = time.time()
    res = simulate(v.scenario, paths=paths, seed=seed, executor=executor, chunk_size=chunk_size,
                   keep="summary", max_memory=max_memory, warn=log)
    resolved = resolved_toml(res.scenario)
    prov = provenance(res, None, time.time() - t0, resolved)
    prov.update(variant=v.label, params=v.params, overrides=v.overrides, fingerprint=fingerprint)
    folder.write(toml_name, resolved.encode("utf-8"), save=False)
    folder.write(json_name, (json.dumps(prov, indent=2, ensure_ascii=False, default=str)
                             + "\n").encode("utf-8"), save=False)
    # the CSV last: its presence (with its checksum in the manifest) marks the variant done
    folder.write(csv_name, summary_csv(res.summary_rows()).encode("utf-8-sig"), complete=False)


def read_variant(data: bytes, name: str = "variant"):
    """A variant's summary CSV (bytes as written) as a DataFrame (``year`` nullable integer;
    ``product`` and ``basis`` text, empty where the CSV cell is, as in ``Results.summary()``)."""
    import io

    import pandas as pd

    try:
        df = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype={"year": "Int64"})
        for col in ("product", "basis"):
            if col in df:
                df[col] = df[col].fillna("").astype(str)
        return df
    except (ValueError, UnicodeDecodeError) as e:
        raise SimpoolError(f"{name}: unreadable variant table ({e})") from None


def combine(folder, manifest: dict):
    """The tidy table of all variants, read back from their files (same either way); every
    file is checked against the folder's manifest first: a changed file is never combined."""
    import pandas as pd

    parts = []
    cells = _param_cells(manifest)
    keys = list(cells)
    for item in manifest["variants"]:
        name = _variant_names(item["index"])[0]
        data = folder.verified(name)
        if data is None:
            raise SimpoolError(f"{folder.path / name}: changed or removed while the batch ran; "
                               "rerun the same command to redo that variant")
        df = read_variant(data, str(folder.path / name))
        df.insert(0, "variant", item["label"])
        for j, k in enumerate(keys):
            v = cells[k][item["index"]]
            df.insert(1 + j, k, pd.NA if v is None else v)
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def _param_cells(manifest: dict) -> dict[str, list]:
    """Each swept key's value per variant as a table cell: a column of numbers stays numbers
    (Excel and Parquet read them as numbers, not text); any other column is text."""
    items = manifest["variants"]
    keys = list(dict.fromkeys(k for item in items for k in item["params"]))
    out = {}
    for k in keys:
        values = [item["params"].get(k) for item in items]
        numeric = all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                      for v in values)
        out[k] = [None if v is None else (v if numeric else str(v)) for v in values]
    return out


def variants_table(manifest: dict):
    import pandas as pd

    cells = _param_cells(manifest)
    return pd.DataFrame([{"index": x["index"], "variant": x["label"], "file": x["file"],
                          **{k: cells[k][x["index"]] for k in cells},
                          "seed": x["seed"], "paths": x["paths"],
                          "fingerprint": x["fingerprint"]} for x in manifest["variants"]])


def table_files(tables: dict, formats: tuple[str, ...]) -> dict[str, bytes]:
    """The files of ``tables`` in each format, as ``{file name: bytes}``: CSV (UTF-8 with BOM;
    ``<name>.csv``), Parquet (``<name>.parquet``) and Excel (one workbook named after the
    first table, one sheet per table; text cells stay text, even one that starts with ``=``,
    ``+``, ``-`` or ``@``, which Excel would otherwise run as a formula)."""
    import io

    out: dict[str, bytes] = {}
    for fmt in formats:
        if fmt == "csv":
            for name, df in tables.items():
                out[f"{name}.csv"] = df.to_csv(index=False).encode("utf-8-sig")
        elif fmt == "parquet":
            for name, df in tables.items():
                buf = io.BytesIO()
                df.to_parquet(buf, index=False)
                out[f"{name}.parquet"] = buf.getvalue()
        elif fmt == "xlsx":
            buf = io.BytesIO()
            import pandas as pd

            with pd.ExcelWriter(buf, engine="openpyxl") as xw:
                # the summary first: what a reader opens the workbook for
                order = sorted(tables, key=lambda n: n != "summary")
                for name in order:
                    df = _numbers_as_numbers(tables[name])
                    df.to_excel(xw, sheet_name=name[:31], index=False)
                    _text_stays_text(xw.sheets[name[:31]])
                    _format_sheet(xw.sheets[name[:31]], df)
            out[f"{next(iter(tables))}.xlsx"] = buf.getvalue()
    return out


#: Excel number formats by the summary's ``unit`` column: money in yuan shown in 亿 with two
#: decimals (the value stays yuan: ``0!.00,,`` shows yuan / 10^6 with a decimal point set
#: before its last two digits, i.e. yuan / 10^8), probabilities as percentages, counts as
#: integers.
XLSX_FORMATS = {"yuan": '#,##0!.00,,"亿"', "probability": "0.00%", "count": "#,##0",
                "ratio": "0.0000", "years": "0.0"}


def _numbers_as_numbers(df):
    """A copy of ``df`` whose text columns that are all numbers (swept lever values such as
    '0.005') hold numbers."""
    import pandas as pd

    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            vals = out[col].dropna()
            if len(vals) and all(isinstance(v, str) for v in vals):
                num = pd.to_numeric(vals, errors="coerce")
                if num.notna().all():
                    out[col] = pd.to_numeric(out[col], errors="coerce")
    return out


def _format_sheet(ws, df) -> None:
    """A sheet people can read: header frozen, filters on, column widths from the text,
    number formats by the row's unit (or by the column, for tables without one)."""
    from openpyxl.utils import get_column_letter

    ws.freeze_panes = "A2"
    if ws.max_row >= 1 and ws.max_column >= 1:
        ws.auto_filter.ref = ws.dimensions
    cols = list(df.columns)
    for j, col in enumerate(cols, start=1):
        width = max([len(str(col))] + [len(str(v)) for v in df[col].head(200)]) + 2
        # CJK characters take about two columns
        if df[col].dtype == object:
            width += max((sum(1 for ch in str(v) if ord(ch) > 0x2E80) for v in df[col].head(200)),
                         default=0)
        ws.column_dimensions[get_column_letter(j)].width = min(max(width, 8), 60)
    if "unit" in cols:
        units = list(df["unit"])
        money_cols = [cols.index(c) + 1 for c in ("value", "se") if c in cols]
        for i, u in enumerate(units, start=2):
            fmt = XLSX_FORMATS.get(u)
            if fmt is None:
                continue
            for j in money_cols:
                ws.cell(row=i, column=j).number_format = fmt
        if "param" in cols:
            j = cols.index("param") + 1
            for i, st in enumerate(df["statistic"], start=2):
                if st in ("VaR", "ES"):
                    ws.cell(row=i, column=j).number_format = "0.0%"
                elif st == "P(L>x)":
                    ws.cell(row=i, column=j).number_format = XLSX_FORMATS["yuan"]


def _text_stays_text(sheet) -> None:
    """openpyxl stores a string that starts with ``=`` as a formula: store it as text."""
    for row in sheet.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"


def write_tables(out: Path, tables: dict, formats: tuple[str, ...], folder=None) -> list[Path]:
    """Write :func:`table_files` into ``out`` (through ``folder``, an
    :class:`~simpool.outputs.outdir.OutputFolder`, when given), each atomically."""
    written = []
    for name, data in table_files(tables, formats).items():
        if folder is not None:
            written.append(folder.write(name, data))
        else:
            p = Path(out) / name
            atomic_write_bytes(p, data)
            written.append(p)
    return written
