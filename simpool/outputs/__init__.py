"""Stage 5 of the pipeline: results to files and pictures.

``files`` (a run's files and its text summary), ``outdir`` (output folders owned by one
command: lock, manifest, sets), ``batch`` (resumable sweeps and tables in CSV, Parquet,
Excel), ``plots`` (matplotlib figures, CJK fonts) and ``report`` (one HTML report).
"""
