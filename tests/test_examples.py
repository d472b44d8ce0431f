"""Each example runs, in a fresh folder, on the real all-MiniLM-L6-v2 and the seeded cache (quick settings).

An example is the first code a user copies; this keeps them from rotting (a missing ``runs/``
folder once broke two of them).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_real_model

EXAMPLES = Path(__file__).parents[1] / "examples"

pytestmark = needs_real_model


def run_example(name: str, *args: str, cwd: Path) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_few_shot_intents(tmp_path):
    out = run_example("few_shot_intents.py", "--samples-per-class", "2", "--epochs", "1", cwd=tmp_path)
    assert "nearest-centroid accuracy" in out and "card_arrival" in out
    assert (tmp_path / "runs" / "example-banking77-8-shot" / "modules.json").is_file()


def test_paraphrase_decisions(tmp_path):
    out = run_example("paraphrase_decisions.py", "--max-pairs", "64", "--epochs", "1", cwd=tmp_path)
    assert "P(same)" in out and "accuracy" in out
    assert (tmp_path / "runs" / "example-mrpc" / "siamese_calibration.json").is_file()


def test_semantic_search(tmp_path):
    out = run_example("semantic_search.py", "--limit", "200", "--json", "figures.json", cwd=tmp_path)
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert "1-NN accuracy" in out and figures["queries"] == 200 and figures["corpus"] == 10003
    assert figures["siamese_text"] == pytest.approx(figures["sentence_transformers_semantic_search"])
    assert figures["siamese_text"]["1nn_accuracy"] > 80  # zero-shot MiniLM: 92 on the full test split
