"""Atomic output folders and files: missing parents are made (and unmade on failure), nothing half-written."""

import os
import stat

import pytest

from siamese_text.errors import ConfigError
from siamese_text.storage import atomic_dir, atomic_file, check_output_dir, check_output_file


def test_atomic_dir_makes_missing_parents(tmp_path):
    out = tmp_path / "runs" / "deep" / "model"
    with atomic_dir(out, overwrite=False) as tmp:
        (tmp / "weights.bin").write_text("w")
    assert (out / "weights.bin").read_text() == "w"
    assert sorted(p.name for p in out.parent.iterdir()) == ["model"]


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_a_failure_removes_the_parents_it_made_and_keeps_the_others(tmp_path, kind):
    (tmp_path / "runs").mkdir()
    out = tmp_path / "runs" / "new" / "deeper" / ("model" if kind == "dir" else "out.csv")
    writer = atomic_dir(out, overwrite=False) if kind == "dir" else atomic_file(out)
    with pytest.raises(RuntimeError), writer:
        assert out.parent.is_dir()  # made for the run
        raise RuntimeError("crash halfway")
    assert (tmp_path / "runs").is_dir() and list((tmp_path / "runs").iterdir()) == []


def test_atomic_file_makes_missing_parents(tmp_path):
    out = tmp_path / "reports" / "eval.json"
    check_output_file(out, suffixes=(".json",), overwrite=False)
    assert not out.parent.exists()  # checking writes nothing
    with atomic_file(out) as tmp:
        tmp.write_text("{}")
    assert out.read_text() == "{}"


@pytest.mark.parametrize("check", [
    lambda path: check_output_dir(path, overwrite=False),
    lambda path: check_output_file(path, suffixes=(".json",), overwrite=False),
])
def test_a_file_where_a_parent_folder_should_be_is_refused(tmp_path, check):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep")
    with pytest.raises(ConfigError, match=r"notes.txt is a file, not a folder; choose another --output path"):
        check(blocker / "sub" / "out.json")
    assert blocker.read_text() == "keep"


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_atomic_dir_gives_the_folder_the_mode_of_a_plain_mkdir(tmp_path, umask):
    (tmp_path / "replaced").mkdir()
    (tmp_path / "replaced" / "old.bin").write_text("old")
    old = os.umask(umask)
    try:
        for name in ("model", "replaced"):
            with atomic_dir(tmp_path / name, overwrite=True) as tmp:
                (tmp / "weights.bin").write_text("w")
        (tmp_path / "plain").mkdir()
    finally:
        os.umask(old)
    modes = {name: stat.S_IMODE((tmp_path / name).stat().st_mode) for name in ("model", "replaced", "plain")}
    assert modes == dict.fromkeys(modes, 0o777 & ~umask)
