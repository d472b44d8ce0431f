"""Publish a saved model folder to the Hugging Face Hub, with its model card.

The upload itself is ``huggingface_hub`` (``create_repo``, ``create_branch``, ``upload_folder``).
What is ours is what must happen *before* any network call: refusing a folder that is not a
model and a repo id that is not ``name`` / ``user/name``, fixing the exact list of files (so
``--dry-run`` shows what will be sent, not an approximation), regenerating the card, and keeping
the token out of every message: it is passed to ``HfApi`` and nowhere else, and any error raised
by the Hub client is re-worded with the token masked, since some carry request details.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siamese_text.errors import ConfigError, ModelError
from siamese_text.model_files import WEIGHT_FILES, check_model_folder

__all__ = [
    "UploadPlan",
    "check_model_folder",
    "check_repo_id",
    "plan_upload",
    "describe_upload",
    "push_to_hub",
    "resolve_token",
    "WEIGHT_FILES",
]

# Never uploaded: hidden files/folders (.git, .cache, editor and atomic_dir temporaries), trainer checkpoints, caches.
_SKIP_PARTS = re.compile(r"^(\..*|checkpoints|__pycache__|runs)$")
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_REPO_ID = re.compile(rf"^(?:{_NAME}/)?{_NAME}$")


def check_repo_id(repo_id: str) -> str:
    """``name`` or ``user/name``: letters, digits, ``-``, ``_``, ``.``; no ``--`` or ``..``; at most 96 characters."""
    if not isinstance(repo_id, str) or not _REPO_ID.match(repo_id) or "--" in repo_id or ".." in repo_id:
        raise ConfigError(
            f"--repo {repo_id!r} is not a Hub repo id; use name or user/name "
            "(letters, digits, '-', '_', '.'; at most 96 characters each)"
        )
    return repo_id


def _uploaded(relative: Path) -> bool:
    return not any(_SKIP_PARTS.match(part) for part in relative.parts)


@dataclass(frozen=True)
class UploadPlan:
    """What a push sends: every file (path in the repo, size in bytes) and the card text."""

    folder: Path
    repo_id: str
    files: tuple[tuple[str, int], ...]
    card: str

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def plan_upload(folder: str | os.PathLike, *, repo_id: str, card: bool = True) -> UploadPlan:
    """The exact files :func:`push_to_hub` uploads, with the card it will write (nothing is written here).

    With ``card=True`` the README.md is the one :func:`siamese_text.model_card.render_model_card`
    makes for this folder and repo (it is listed even if the folder has none yet).
    """
    from siamese_text.model_card import render_model_card

    path = check_model_folder(folder)
    check_repo_id(repo_id)
    card_text = render_model_card(path, repo_id=repo_id) if card else _read(path / "README.md")
    files: dict[str, int] = {}
    for item in sorted(path.rglob("*")):
        relative = item.relative_to(path)
        if item.is_file() and not item.is_symlink() and _uploaded(relative):
            files[relative.as_posix()] = item.stat().st_size
    if card:
        files["README.md"] = len(card_text.encode("utf-8"))
    return UploadPlan(folder=path, repo_id=repo_id, files=tuple(sorted(files.items())), card=card_text)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"


def describe_upload(plan: UploadPlan) -> str:
    """The ``--dry-run`` report: the file table, then the card."""
    width = max(len(name) for name, _ in plan.files)
    lines = [f"would upload {len(plan.files)} files ({_size(plan.total_bytes)}) from {plan.folder} to {plan.repo_id}:"]
    lines += [f"  {name.ljust(width)}  {_size(size):>10}" for name, size in plan.files]
    lines += ["", "README.md (model card):", plan.card]
    return "\n".join(lines)


def resolve_token(token: str | None = None) -> str:
    """The token to use: the argument, else ``HF_TOKEN``, else the saved login (``hf auth login``)."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise ConfigError("no Hugging Face token: set HF_TOKEN or run 'hf auth login' (the token is never printed)")
    return token


def _masked(exc: BaseException, token: str) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.replace(token, "***")[:300]


def push_to_hub(
    model_dir: str | os.PathLike,
    *,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
    card: bool = True,
) -> str:
    """Create (or reuse) ``repo_id`` and upload the model folder; returns the commit (or pull request) URL.

    ``private`` applies when the repo is created (an existing repo keeps its visibility).
    ``revision`` uploads to that branch, creating it from main if needed. ``create_pr`` opens a pull
    request against main instead of committing to it. With ``card=True`` the folder's README.md is
    first (re)written from :mod:`siamese_text.model_card`, so the Hub shows our card, not the
    generic one sentence-transformers saves.
    """
    if create_pr and revision not in (None, "main"):
        raise ConfigError("--create-pr opens a pull request against main; drop --revision or --create-pr")
    if revision is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", revision):
        raise ConfigError(f"--revision {revision!r} is not a branch name; use letters, digits, '.', '_', '-', '/'")
    plan = plan_upload(model_dir, repo_id=repo_id, card=card)  # all local checks before any network call
    secret = resolve_token(token)
    from huggingface_hub import HfApi

    if card:
        from siamese_text.model_card import write_model_card

        write_model_card(plan.folder, repo_id=repo_id)
    api = HfApi(token=secret)
    try:
        repo = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        full_id = getattr(repo, "repo_id", None) or repo_id
        if revision not in (None, "main"):
            api.create_branch(full_id, branch=revision, exist_ok=True, repo_type="model")
        info = api.upload_folder(
            repo_id=full_id,
            folder_path=str(plan.folder),
            repo_type="model",
            revision=None if create_pr else revision,
            create_pr=create_pr,
            commit_message=commit_message or f"Upload Siamese text encoder from {plan.folder.name}",
            allow_patterns=[glob.escape(name) for name, _ in plan.files],
        )
    except Exception as exc:  # the Hub client's errors (HTTP, validation, network) become one masked line
        raise ModelError(f"upload to {repo_id} failed: {_masked(exc, secret)}") from None
    url: Any = getattr(info, "pr_url", None) if create_pr else None
    return str(url or getattr(info, "commit_url", None) or f"https://huggingface.co/{full_id}")
