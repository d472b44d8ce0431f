"""The built wheel holds every module and data file: pyproject.toml lists the packages by hand.

An editable install (what the tests run on) reads the source folders, so a subpackage or template
missing from ``[tool.setuptools]`` would only show after ``pip install siamese-text``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    # Built from a copy of what the wheel is made of: setuptools reuses a build/ folder left in the
    # checkout, which would still hold a module that pyproject.toml no longer lists.
    src = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("siamese_text", "cli"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out), str(src)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{done.stderr[-2000:]}")
    (path,) = out.glob("*.whl")
    return zipfile.ZipFile(path)


@pytest.fixture(scope="module")
def wheel_files(wheel: zipfile.ZipFile) -> set[str]:
    return set(wheel.namelist())


def test_wheel_holds_every_module_and_template(wheel_files: set[str]) -> None:
    expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / "siamese_text").rglob("*") if p.suffix in {".py", ".md"}}
    expected |= {f"siamese_text_cli/{p.name}" for p in (ROOT / "cli").glob("*.py")}
    missing = sorted(expected - wheel_files)
    assert not missing, f"{len(missing)} files are not in the wheel: {missing}"
    assert "siamese_text/templates/model_card.md" in wheel_files


def test_wheel_declares_the_siamtext_command(wheel: zipfile.ZipFile) -> None:
    (name,) = [name for name in wheel.namelist() if name.endswith(".dist-info/entry_points.txt")]
    lines = wheel.read(name).decode().split("\n")
    assert "[console_scripts]" in lines
    assert "siamtext = siamese_text_cli.main:cli" in lines
