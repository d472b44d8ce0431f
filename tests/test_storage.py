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


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_folder_that_appears_during_the_run_is_kept_and_the_result_set_beside_it(tmp_path):
    out = tmp_path / "model"
    with pytest.raises(ConfigError, match=r"appeared while this ran and was left as it is; the result is in .*model\.new$"):
        with atomic_dir(out, overwrite=False) as tmp:
            (tmp / "weights.bin").write_text("new")
            out.mkdir()
            (out / "notes.txt").write_text("mine")  # someone else's folder, made meanwhile
    assert (out / "notes.txt").read_text() == "mine" and _names(out) == ["notes.txt"]
    assert (tmp_path / "model.new" / "weights.bin").read_text() == "new"
    assert _names(tmp_path) == ["model", "model.new"]  # no temporary folder, no lock file


def test_a_second_writer_of_the_same_folder_is_refused_at_once(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "ix"
    second = ("import sys\nfrom siamese_text.storage import atomic_dir\n"
              "try:\n    with atomic_dir(sys.argv[1], overwrite=True):\n        pass\n"
              "except Exception as exc:\n    print(exc)\n")
    with atomic_dir(out, overwrite=False) as tmp:
        (tmp / "a").write_text("a")
        run = subprocess.run([sys.executable, "-c", second, str(out)], capture_output=True, text=True, check=True)
        assert "is being written by another run; wait for it to finish" in run.stdout
    assert _names(tmp_path) == ["ix"] and _names(out) == ["a"]  # the lock file is gone with the run
    run = subprocess.run([sys.executable, "-c", second, str(out)], capture_output=True, text=True, check=True)
    assert run.stdout == "" and _names(out) == []  # free again: the second writer replaced it


def test_the_lock_is_re_entered_by_its_holder(tmp_path):
    from siamese_text.storage import output_lock

    out = tmp_path / "ix"
    with output_lock(out), atomic_dir(out, overwrite=False) as tmp:  # as `index add` does: read, add, save
        (tmp / "a").write_text("a")
    assert _names(tmp_path) == ["ix"]


def test_a_failed_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    out = tmp_path / "model"
    out.mkdir()
    (out / "old.bin").write_text("old")
    real_replace, calls = os.replace, []

    def failing_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_second)
    with pytest.raises(OSError, match="No space left"), atomic_dir(out, overwrite=True) as tmp:
        (tmp / "new.bin").write_text("new")
    assert _names(out) == ["old.bin"] and _names(tmp_path) == ["model"]


def test_outputs_that_would_destroy_what_is_needed_are_refused(tmp_path, monkeypatch):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    monkeypatch.chdir(model)
    with pytest.raises(ConfigError, match="is the folder you are in"):
        check_output_dir(".", overwrite=True)
    with pytest.raises(ConfigError, match="is the folder you are in"):
        check_output_dir(tmp_path, overwrite=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="--output model holds .*model/config.json, which the result still needs"):
        check_output_dir("model", overwrite=True, keep=["sentence-transformers/x", model / "config.json"])
    check_output_dir(tmp_path / "other", overwrite=True, keep=[model])


def test_a_symlinked_output_folder_is_written_through_and_stays_a_link(tmp_path):
    target = tmp_path / "real"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    with atomic_dir(link, overwrite=False) as tmp:
        (tmp / "weights.bin").write_text("w")
    assert link.is_symlink() and (target / "weights.bin").read_text() == "w"


def test_a_folder_that_cannot_be_written_in_is_refused_before_any_work(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked) else real_access(p, mode))
    with pytest.raises(ConfigError, match=r"--output .*locked/sub/model: cannot write in .*locked \(permission denied\)"):
        check_output_dir(locked / "sub" / "model", overwrite=False)
    with pytest.raises(ConfigError, match="cannot write in"):
        check_output_file(locked / "out.csv", suffixes=(".csv",), overwrite=False)
