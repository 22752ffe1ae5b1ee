"""Batch runs that never lose work: one result file per finished variant, resumable.

Layout of an output folder::

    batch.json                  fingerprint of the inputs, the variants, seed and paths
    variants/0000.csv           summary of variant 0 (tidy, UTF-8 with BOM), written atomically
    variants/0000.resolved.toml the variant's resolved scenario
    variants/0000.json          its provenance
    summary.csv                 every variant's rows with a ``variant`` column (+ one column
                                per swept key); also summary.parquet / summary.xlsx on request

Rerunning the same command resumes: finished variants are skipped and the final table is
built from the variant files, so it equals that of an uninterrupted run. A folder made by a
different scenario, seed or path count is refused (``fresh=True`` starts afresh instead).
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import Executor
from pathlib import Path
from typing import Callable

from .errors import SimpoolError
from .output import atomic_write_bytes

FORMATS = ("csv", "parquet", "xlsx")


def variant_fingerprint(variant, seed: int, paths: int) -> str:
    """SHA-256 of everything that fixes a variant's numbers."""
    from . import __version__
    from ._jit import source_hash
    from .scenario import resolved_toml

    h = hashlib.sha256()
    for part in (resolved_toml(variant.scenario).split("\n", 2)[-1], str(seed), str(paths),
                 __version__, source_hash()):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    if variant.scenario.tape is not None and variant.scenario.portfolio.loans_file:
        from .output import _file_sha256

        p = Path(variant.scenario.portfolio.loans_file)
        full = p if p.is_absolute() else Path(variant.scenario._base_dir) / p
        h.update(_file_sha256(full).encode())
    return h.hexdigest()


def _manifest(variants, seed: int, paths: int) -> dict:
    items = [{"index": i, "label": v.label, "file": v.file, "params": v.params,
              "fingerprint": variant_fingerprint(v, seed, paths)} for i, v in enumerate(variants)]
    whole = hashlib.sha256("".join(x["fingerprint"] for x in items).encode()).hexdigest()
    return {"fingerprint": whole, "seed": seed, "paths": paths, "variants": items}


def _check_folder(out: Path, manifest: dict, fresh: bool) -> None:
    """Refuse a folder made by a different batch; with ``fresh`` clear it first."""
    path = out / "batch.json"
    vdir = out / "variants"
    if fresh:
        for f in list(vdir.glob("*")) if vdir.exists() else []:
            f.unlink()
        for f in [path] + [out / f"{n}.{x}" for n in ("summary", "variants") for x in FORMATS]:
            if f.exists():
                f.unlink()
        return
    if not path.exists():
        if vdir.exists() and any(vdir.iterdir()):
            raise SimpoolError(f"{out}: holds variant results but no batch.json: not made by "
                               "this batch; use --fresh to start afresh or choose another --out")
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SimpoolError(f"{path}: unreadable ({e}); use --fresh to start afresh") from None
    if old.get("fingerprint") == manifest["fingerprint"]:
        return
    why = []
    if old.get("seed") != manifest["seed"]:
        why.append(f"seed {old.get('seed')} -> {manifest['seed']}")
    if old.get("paths") != manifest["paths"]:
        why.append(f"paths {old.get('paths')} -> {manifest['paths']}")
    if [v.get("label") for v in old.get("variants", [])] != [v["label"] for v in manifest["variants"]]:
        why.append("other variants")
    if not why:
        why.append("a different scenario: the resolved inputs differ")
    raise SimpoolError(f"{out}: made by a different batch ({'; '.join(why)}); rerun with "
                       "--fresh to start afresh, or choose another --out")


def run_batch(variants, out: str | Path, *, paths: int | None = None, seed: int | None = None,
              fresh: bool = False, formats: tuple[str, ...] = ("csv",),
              executor: Executor | None = None, chunk_size: int | None = None,
              progress: bool = False, on_variant: Callable[[int, str, bool], None] | None = None):
    """Run every variant into ``out`` (resuming); return the combined tidy table.

    ``paths`` and ``seed`` default to the first variant's scenario values; all variants use
    the same ones (common random numbers across variants). ``on_variant(index, label,
    skipped)`` is called after each variant.
    """

    from .engine import simulate
    from .output import provenance
    from .scenario import resolved_toml

    if not variants:
        raise SimpoolError("no variants to run")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise SimpoolError(f"unknown format {', '.join(bad)}; choose from {', '.join(FORMATS)}")
    first = variants[0].scenario
    paths = int(paths or first.simulation.paths)
    seed = int(first.simulation.seed if seed is None else seed)
    out = Path(out)
    manifest = _manifest(variants, seed, paths)
    _check_folder(out, manifest, fresh)
    atomic_write_bytes(out / "batch.json",
                       (json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n").encode())
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(variants), unit="variant", desc="variants", leave=False)
    try:
        for i, v in enumerate(variants):
            stem = out / "variants" / f"{i:04d}"
            done = stem.with_suffix(".csv").exists()
            if not done:
                t0 = time.time()
                res = simulate(v.scenario, paths=paths, seed=seed, executor=executor,
                               chunk_size=chunk_size)
                table = res.summary()
                resolved = resolved_toml(v.scenario)
                prov = provenance(res, None, time.time() - t0, resolved)
                prov.update(variant=v.label, params=v.params, overrides=v.overrides,
                            fingerprint=manifest["variants"][i]["fingerprint"])
                atomic_write_bytes(stem.with_suffix(".resolved.toml"), resolved.encode("utf-8"))
                atomic_write_bytes(stem.with_suffix(".json"),
                                   (json.dumps(prov, indent=2, ensure_ascii=False, default=str)
                                    + "\n").encode("utf-8"))
                # the CSV last: its presence marks the variant finished
                atomic_write_bytes(stem.with_suffix(".csv"),
                                   table.to_csv(index=False).encode("utf-8-sig"))
            if bar is not None:
                bar.update(1)
            if on_variant is not None:
                on_variant(i, v.label, done)
    finally:
        if bar is not None:
            bar.close()
    table = combine(out, manifest)
    write_tables(out, {"summary": table, "variants": variants_table(manifest)}, formats)
    return table


def read_variant(path: Path):
    """A variant's summary CSV as written (``year`` nullable integer)."""
    import pandas as pd

    df = pd.read_csv(path, encoding="utf-8-sig", dtype={"year": "Int64"})
    return df


def combine(out: Path, manifest: dict):
    """The tidy table of all variants, read back from their files (same either way)."""
    import pandas as pd

    parts = []
    keys: list[str] = []
    for item in manifest["variants"]:
        for k in item["params"]:
            if k not in keys:
                keys.append(k)
    for item in manifest["variants"]:
        df = read_variant(out / "variants" / f"{item['index']:04d}.csv")
        df.insert(0, "variant", item["label"])
        for j, k in enumerate(keys):
            v = item["params"].get(k)
            df.insert(1 + j, k, str(v) if v is not None else pd.NA)
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def variants_table(manifest: dict):
    import pandas as pd

    return pd.DataFrame([{"index": x["index"], "variant": x["label"], "file": x["file"],
                          **{k: str(v) for k, v in x["params"].items()},
                          "fingerprint": x["fingerprint"]} for x in manifest["variants"]])


def write_tables(out: Path, tables: dict, formats: tuple[str, ...]) -> list[Path]:
    """Write tables as CSV (UTF-8 with BOM; ``<name>.csv``), Parquet (``<name>.parquet``) and
    Excel (one workbook named after the first table, one sheet per table), each atomically."""
    import io

    written = []
    for fmt in formats:
        if fmt == "csv":
            for name, df in tables.items():
                p = out / f"{name}.csv"
                atomic_write_bytes(p, df.to_csv(index=False).encode("utf-8-sig"))
                written.append(p)
        elif fmt == "parquet":
            for name, df in tables.items():
                buf = io.BytesIO()
                df.to_parquet(buf, index=False)
                p = out / f"{name}.parquet"
                atomic_write_bytes(p, buf.getvalue())
                written.append(p)
        elif fmt == "xlsx":
            buf = io.BytesIO()
            import pandas as pd

            with pd.ExcelWriter(buf, engine="openpyxl") as xw:
                for name, df in tables.items():
                    df.to_excel(xw, sheet_name=name[:31], index=False)
            p = out / f"{next(iter(tables))}.xlsx"
            atomic_write_bytes(p, buf.getvalue())
            written.append(p)
    return written
