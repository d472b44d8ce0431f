"""What every training benchmark does with its rows: run the selected ones, save after each, keep the rest.

Each script maps a row name to a function returning that row's figures; ``--only a,b`` runs the
rows whose name contains ``a`` or ``b`` and keeps the other rows already in the JSON file, so one
long benchmark can be measured a few rows at a time on a 2-core machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_rows(runs: dict[str, Callable[[], dict[str, Any]]], *, only: str | None, output: str | Path,
             header: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Run the rows of ``runs`` that ``only`` selects, writing ``{**header, "results": ...}`` after every row."""
    path = Path(output)
    keys = [key for key in only.split(",") if key] if only else None
    results: dict[str, dict[str, Any]] = {}
    if keys and path.exists():  # a partial run adds to what was measured before
        results = json.loads(path.read_text()).get("results", {})
    for name, run in runs.items():
        if keys and not any(key in name for key in keys):
            continue
        print(f"running: {name}", flush=True)
        results[name] = run()
        print(f"  {results[name]}", flush=True)
        write(path, results, header)  # after every row, so a stopped run keeps what it measured
    return results


def train_in_tmp(*, log: Callable[[str], None] | None = None, callbacks: list[Any] | None = None,
                 **options: Any) -> tuple[Any, Any, float]:
    """``siamtext train`` with ``options`` into a temporary folder: (resolved config, TrainResult, seconds).

    ``callbacks`` (transformers ``TrainerCallback``s) go to the trainer, for probes that change training.
    """
    import tempfile
    import time

    from siamese_text.config import TrainConfig
    from siamese_text.training import train

    with tempfile.TemporaryDirectory() as tmp:
        config = TrainConfig(output=str(Path(tmp) / "model"), **options)
        t0 = time.perf_counter()
        result = train(config, progress=False, log=log or (lambda line: print("   ", line, flush=True)),
                       callbacks=callbacks)
        return config, result, time.perf_counter() - t0


def write(path: str | Path, results: dict[str, dict[str, Any]], header: dict[str, Any] | None = None,
          **extra: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**(header or {}), "results": results, **extra}, indent=2) + "\n")
