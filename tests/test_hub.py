"""`siamtext push` and SiameseEncoder.push_to_hub with a mocked HfApi (as sentence-transformers' own tests do).

Checks the repo id, branch, privacy, PR flag and the exact uploaded file list; that --dry-run matches the
upload and makes no call; that bad input is refused before any call; and that the token never appears
in any output, log, exception or file.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from siamese_text_cli.main import cli

SENTINEL = "hf_SENTINELtoken0123456789abcdefXYZ"


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def model_dir(tiny_encoder, tmp_path: Path) -> Path:
    folder = tiny_encoder.save(tmp_path / "model")
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "optimizer.pt").write_bytes(b"x" * 10)
    (folder / ".DS_Store").write_bytes(b"x")
    (folder / "notes[draft].txt").write_text("glob characters in a name")
    return folder


@pytest.fixture()
def hub(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    """Replace HfApi's network methods; record (name, kwargs, token of the HfApi instance)."""
    from huggingface_hub import HfApi

    calls: list[tuple[str, dict]] = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", {"repo_id": repo_id, "token": self.token, **kwargs}))
        return SimpleNamespace(repo_id=repo_id if "/" in repo_id else f"me/{repo_id}")

    def create_branch(self, repo_id, **kwargs):
        calls.append(("create_branch", {"repo_id": repo_id, **kwargs}))

    def upload_folder(self, **kwargs):
        calls.append(("upload_folder", kwargs))
        url = f"https://huggingface.co/{kwargs['repo_id']}"
        return SimpleNamespace(commit_url=f"{url}/commit/abc", pr_url=f"{url}/discussions/1" if kwargs.get("create_pr") else None)

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "create_branch", create_branch)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.setenv("HF_TOKEN", SENTINEL)
    return calls


def uploaded_files(call: dict, folder: Path) -> list[str]:
    """What huggingface_hub's upload_folder selects from the folder with these patterns (its own filter)."""
    from huggingface_hub.utils import filter_repo_objects
    from huggingface_hub.utils._paths import DEFAULT_IGNORE_PATTERNS

    every = [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*")) if p.is_file()]
    return sorted(filter_repo_objects(every, allow_patterns=call["allow_patterns"], ignore_patterns=DEFAULT_IGNORE_PATTERNS))


def test_push_sends_repo_branch_privacy_and_exact_files(model_dir: Path, hub: list) -> None:
    result = run("push", str(model_dir), "--repo", "alice/tiny-siamese", "--private", "--revision", "dev",
                 "--commit-message", "first model")
    assert result.exit_code == 0, result.output
    assert [name for name, _ in hub] == ["create_repo", "create_branch", "upload_folder"]
    repo, branch, upload = (kwargs for _, kwargs in hub)
    assert repo["repo_id"] == "alice/tiny-siamese" and repo["private"] is True and repo["exist_ok"] is True
    assert repo["token"] == SENTINEL  # the token is used, just never shown
    assert branch == {"repo_id": "alice/tiny-siamese", "branch": "dev", "exist_ok": True, "repo_type": "model"}
    assert upload["repo_id"] == "alice/tiny-siamese" and upload["revision"] == "dev" and upload["create_pr"] is False
    assert upload["commit_message"] == "first model" and Path(upload["folder_path"]) == model_dir
    files = uploaded_files(upload, model_dir)
    assert "modules.json" in files and "model.safetensors" in files and "README.md" in files
    assert "notes[draft].txt" in files
    assert not [f for f in files if f.startswith(("checkpoints/", ".")) or "/." in f]
    assert "alice/tiny-siamese/commit/abc" in result.output
    # the README.md that went up is our card, for this repo
    front = yaml.safe_load((model_dir / "README.md").read_text().split("---\n")[1])
    assert "siamese" in front["tags"] and 'SiameseEncoder.load("alice/tiny-siamese")' in (model_dir / "README.md").read_text()


def test_dry_run_lists_exactly_what_push_uploads_and_calls_nothing(model_dir: Path, hub: list) -> None:
    before = snapshot(model_dir)
    dry = run("push", str(model_dir), "--repo", "alice/tiny", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert hub == [] and snapshot(model_dir) == before  # no network call, nothing written
    listed = [line.split()[0] for line in dry.output.split("README.md (model card):")[0].splitlines()[1:] if line.strip()]
    size = (model_dir / "model.safetensors").stat().st_size
    assert f"{size / 1024:,.1f} KB" in dry.output
    assert "library_name: sentence-transformers" in dry.output  # the card is shown
    result = run("push", str(model_dir), "--repo", "alice/tiny")
    assert result.exit_code == 0, result.output
    assert listed == uploaded_files(hub[-1][1], model_dir)


def test_create_pr_and_bare_repo_name(model_dir: Path, hub: list) -> None:
    result = run("push", str(model_dir), "--repo", "tiny", "--create-pr")
    assert result.exit_code == 0, result.output
    assert [name for name, _ in hub] == ["create_repo", "upload_folder"]  # no branch: a PR goes against main
    assert hub[0][1]["private"] is False
    upload = hub[1][1]
    assert upload["create_pr"] is True and upload["revision"] is None and upload["repo_id"] == "me/tiny"
    assert "opened a pull request: https://huggingface.co/me/tiny/discussions/1" in result.output


def test_push_to_hub_from_python(model_dir: Path, hub: list) -> None:
    from siamese_text.hub import push_to_hub

    url = push_to_hub(model_dir, repo_id="alice/tiny", private=True, create_pr=True)
    assert url == "https://huggingface.co/alice/tiny/discussions/1"
    upload = hub[-1][1]
    assert hub[0][1]["private"] is True and upload["create_pr"] is True
    assert "model.safetensors" in uploaded_files(upload, model_dir)


def test_token_never_leaks(model_dir: Path, hub: list, monkeypatch: pytest.MonkeyPatch, caplog, tmp_path: Path) -> None:
    """Even a Hub error that quotes the token prints it masked; no output, log or file holds it."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    caplog.set_level(logging.DEBUG)
    ok = run("push", str(model_dir), "--repo", "alice/tiny", "--revision", "dev")
    assert ok.exit_code == 0, ok.output

    class Unauthorized(HfHubHTTPError):
        def __init__(self, message: str) -> None:  # no HTTP response object needed to carry the message
            Exception.__init__(self, message)

    def refuse(self, repo_id, **kwargs):
        raise Unauthorized(f"401 Client Error: Unauthorized for url with Authorization: Bearer {self.token}")

    monkeypatch.setattr(HfApi, "create_repo", refuse)
    failed = run("push", str(model_dir), "--repo", "alice/tiny")
    assert failed.exit_code == 2
    assert failed.output.strip().startswith("Error: upload to alice/tiny failed: 401 Client Error")
    assert "Bearer ***" in failed.output and len(failed.output.strip().splitlines()) == 1
    dry = run("push", str(model_dir), "--repo", "alice/tiny", "--dry-run")
    for text in (ok.output, failed.output, dry.output, caplog.text):
        assert SENTINEL not in text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SENTINEL.encode() not in path.read_bytes(), path


def test_exception_from_python_has_no_token(model_dir: Path, hub: list, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi

    from siamese_text.errors import ModelError
    from siamese_text.hub import push_to_hub

    def boom(self, **kwargs):
        raise RuntimeError(f"connection reset while sending token={self.token}")

    monkeypatch.setattr(HfApi, "upload_folder", boom)
    with pytest.raises(ModelError) as info:
        push_to_hub(model_dir, repo_id="alice/tiny")
    assert SENTINEL not in str(info.value) and info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("repo:alice/tiny/extra", "is not a Hub repo id"),
        ("repo:-alice/tiny", "is not a Hub repo id"),
        ("repo:alice/ti ny", "is not a Hub repo id"),
        ("repo:alice/a--b", "is not a Hub repo id"),
        ("repo:", "is not a Hub repo id"),
        ("missing", "is not a folder"),
        ("no-modules", "no modules.json"),
        ("no-weights", "has no weights"),
        ("pr-on-branch", "--create-pr opens a pull request against main"),
        ("no-token", "no Hugging Face token"),
    ],
)
def test_bad_input_is_refused_before_any_network_call(case: str, message: str, model_dir: Path, hub: list,
                                                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    repo, folder, extra = "alice/tiny", model_dir, []
    if case.startswith("repo:"):
        repo = case[5:]
    elif case == "missing":
        folder = tmp_path / "nope"
    elif case == "no-modules":
        (model_dir / "modules.json").unlink()
    elif case == "no-weights":
        (model_dir / "model.safetensors").unlink()
    elif case == "pr-on-branch":
        extra = ["--create-pr", "--revision", "dev"]
    elif case == "no-token":
        monkeypatch.delenv("HF_TOKEN")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))  # no saved login either
    before = snapshot(model_dir)
    for dry in ([], ["--dry-run"]) if case != "pr-on-branch" and case != "no-token" else ([],):
        result = run("push", str(folder), "--repo", repo, *extra, *dry)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output
    assert hub == []
    if case not in ("no-modules", "no-weights"):
        assert snapshot(model_dir) == before  # nothing written, the card included


def test_load_a_pushed_model_by_hub_id_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Hub id resolves from the local cache with HF_HUB_OFFLINE=1 (all-MiniLM-L6-v2 is cached here)."""
    import numpy as np

    from siamese_text.encoder import SiameseEncoder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = SiameseEncoder.load("sentence-transformers/all-MiniLM-L6-v2")
    assert encoder.dimension == 384 and encoder.normalize
    emb = encoder.encode(["A man is playing a guitar.", "Someone plays an instrument.", "The bank is closed."])
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2] + 0.2  # a real model: the paraphrase is far closer than the unrelated text
