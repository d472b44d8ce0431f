"""The README and the documentation site say only what is true of the code.

- ``mkdocs build --strict`` builds the site (a broken link, anchor or API reference fails it);
- every ``siamtext ...`` command line in README.md and docs/*.md names a real subcommand and only
  flags that subcommand knows (checked against the click command objects, not a copy of --help);
- every fenced ``python`` block runs, on the tiny random BERT, with the data set presets it names
  replaced by small local files and trainings cut to one epoch (``<!-- skip-test -->`` on the line
  before a block skips it).
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REAL_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SKIP_MARK = "<!-- skip-test -->"
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
SEPARATORS = {"&&", "||", "|", ";"}
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def rel(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


# ---- the site ---------------------------------------------------------------------------------


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    missing = [name for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "mkdocs_click")
               if importlib.util.find_spec(name.split(".")[0]) is None]
    if missing:
        pytest.skip(f"the documentation tools are not installed ({', '.join(missing)}); pip install -e '.[docs]'")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(site)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    cli_page = (site / "cli" / "index.html").read_text()
    # generated from click: every subcommand, nested ones included, with its options
    for anchor in ("siamtext-train", "siamtext-index-build", "siamtext-index-delete", "siamtext-search"):
        assert f'id="{anchor}"' in cli_page, anchor
    assert "--group-by-length" in cli_page and "--hard-negatives" in cli_page
    assert "Sentinel" not in cli_page  # mkdocs-click's table style prints click 8.2's UNSET default; plain is --help
    api_page = (site / "api" / "index.html").read_text()
    assert 'id="siamese_text.encoder.SiameseEncoder.encode"' in api_page  # from the docstrings
    assert 'id="siamese_text.search.SemanticIndex.search"' in api_page
    for page in (ROOT / "docs").glob("*.md"):
        assert (site / ("" if page.stem == "index" else page.stem) / "index.html").is_file(), page.name


def test_readme_links_point_at_files() -> None:
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    assert targets, "the README links into the docs"
    missing = [t for t in targets if "://" not in t and not (ROOT / t).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_readme_is_short_and_keeps_the_quick_start() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    for command in ('HF_HUB_OFFLINE=1 siamtext train --dataset stsb\n', '. .venv/bin/activate && HF_HUB_OFFLINE=1 python -m pytest\n'):
        assert command in text


# ---- siamtext command lines ----------------------------------------------------------------


def command_lines(text: str) -> list[str]:
    """Lines of fenced (non-Python) code and inline code spans that run ``siamtext``."""
    lines: list[str] = []
    for block in FENCE.finditer(text):
        if block["lang"].strip().lower() in {"python", "py", "pycon"}:
            continue
        joined = re.sub(r"[ \t]*\\\n[ \t]*", " ", block["body"])  # line continuations
        lines += [line.strip() for line in joined.splitlines() if re.search(r"\bsiamtext\b", line)]
    prose = FENCE.sub("", text)
    lines += [span.strip() for span in INLINE.findall(prose) if re.match(r"^(\$\s*)?([A-Z_]+=\S+\s+)*siamtext\b", span.strip())]
    return lines


def _flags(token: str) -> list[str]:
    """The option names in one token of a command or of a usage synopsis (``[--a/--no-a]``, ``--x=1``)."""
    token = token.strip("[]")
    if not token.startswith("-") or token == "-" or re.match(r"^-\d", token):
        return []
    return [part.split("=", 1)[0].strip("[]") for part in token.split("/") if part.startswith("-")]


def _known(command: click.Command) -> set[str]:
    names = {"-h", "--help"}
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def check_command(line: str, root: click.Command | None = None) -> list[str]:
    """What is wrong with a ``siamtext ...`` line: an unknown subcommand or a flag its command does not know."""
    if root is None:
        from siamese_text_cli.main import cli as root
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        return [f"{line!r} does not parse as a shell line ({exc})"]
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token in SEPARATORS:
            segments.append([])
        else:
            segments[-1].append(token)
    problems = []
    for segment in segments:
        while segment and (segment[0] == "$" or ENV_ASSIGNMENT.match(segment[0])):
            segment = segment[1:]
        if not segment or segment[0] != "siamtext":
            continue
        commands, path, rest = [root], ["siamtext"], segment[1:]
        while isinstance(commands[0], click.Group) and rest and not rest[0].startswith("-"):
            group = commands[0]
            name = rest.pop(0)
            if name in group.commands:
                commands, path = [group.commands[name]], [*path, name]
            elif name.isupper() or name in {"...", "…"}:  # a placeholder (`siamtext COMMAND --help`): flags every subcommand knows
                commands, path = list(group.commands.values()), [*path, name]
            else:
                problems.append(f"{line!r}: {' '.join(path)} has no subcommand {name!r}")
                break
        else:
            for token in rest:
                for flag in _flags(token):
                    if not all(flag in _known(command) for command in commands):
                        problems.append(f"{line!r}: {' '.join(path)} has no option {flag}")
    return problems


def test_the_checker_rejects_what_the_cli_rejects() -> None:
    """The checker must be able to fail: made-up flags and subcommands are caught, real usage passes."""
    assert check_command("siamtext train --dataset stsb --made-up-flag 3")
    assert check_command("siamtext trian --dataset stsb")
    assert check_command("siamtext index build MODEL corpus.csv --output x --top-k 3")  # a search option, not build's
    assert check_command("siamtext search faq-index q [--json] [--no-such-option]")
    assert check_command("cat q.txt | siamtext search faq-index --queries-flie -")
    assert check_command("HF_HUB_OFFLINE=1 siamtext train --group-by-length/--no-group-by-lenght")
    assert check_command("siamtext COMMAND --dataset x")  # not an option of every subcommand
    assert not check_command("siamtext train --dataset stsb [--loss contrastive|triplet] [--group-by-length/--no-group-by-length]")
    assert not check_command("python x.py && HF_HUB_OFFLINE=1 siamtext train --dataset stsb --output=runs/x  # a comment --nope")
    assert not check_command("cat q.txt | siamtext search faq-index -k 5 --filter 'year >= 2020' --json")
    assert not check_command("siamtext index delete faq-index q17 q18 --ids-file ids.txt")
    assert not check_command("siamtext COMMAND --help")
    assert command_lines("```bash\nsiamtext train \\\n  --dataset stsb --bogus\n```\nsee `siamtext verify M a b`\n") == [
        "siamtext train --dataset stsb --bogus", "siamtext verify M a b"]


@pytest.mark.parametrize("page", PAGES, ids=rel)
def test_every_siamtext_line_parses_against_the_cli(page: Path) -> None:
    lines = command_lines(page.read_text())
    problems = [problem for line in lines for problem in check_command(line)]
    assert not problems, "\n".join(problems)


def test_the_pages_show_commands() -> None:
    """The pages above are not vacuously right: they hold many commands, with an example of every subcommand."""
    from siamese_text_cli.main import cli

    lines = [line for page in PAGES for line in command_lines(page.read_text())]
    assert len(lines) > 60
    used = set()
    for line in lines:
        tokens = shlex.split(line, comments=True)
        if "siamtext" not in tokens:
            continue
        at = tokens.index("siamtext")
        used.add(tuple(tokens[at + 1 : at + 3]))
    for name, command in cli.commands.items():
        if isinstance(command, click.Group):
            missing = [sub for sub in command.commands if not any(u[:2] == (name, sub) for u in used)]
        else:
            missing = [] if any(u[:1] == (name,) for u in used) else [""]
        assert not missing, f"no example of siamtext {name} {missing}"


# ---- Python examples -----------------------------------------------------------------------


def python_blocks() -> list[Any]:
    params = []
    for page in PAGES:
        text = page.read_text()
        n = 0
        for block in FENCE.finditer(text):
            if block["lang"].strip().lower() not in {"python", "py"}:
                continue
            n += 1
            before = text[: block.start()].rstrip().splitlines()
            marks = [pytest.mark.skip(reason=f"marked {SKIP_MARK} in {rel(page)}")] if before and before[-1].strip() == SKIP_MARK else []
            params.append(pytest.param(page, block["body"], id=f"{rel(page)}-{n}", marks=marks))
    return params


def _write_pairs(folder: Path, rows: list[tuple[str, str, float]], label: str) -> Path:
    folder.mkdir()
    for name, part in (("train", rows[:32]), ("validation", rows[32:40]), ("test", rows[40:])):
        with (folder / f"{name}.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["sentence1", "sentence2", label])
            writer.writerows(part)
    return folder


@pytest.fixture()
def doc_data(tmp_path: Path, scored_folder: Path, intents: Path) -> dict[str, dict[str, Any]]:
    """Small local stand-ins for the presets the examples name: scored pairs, 0/1 pairs, class-labelled texts."""
    rows = []
    with (scored_folder / "train.csv").open() as f, (scored_folder / "validation.csv").open() as g, \
            (scored_folder / "test.csv").open() as h:
        for reader in (csv.DictReader(f), csv.DictReader(g), csv.DictReader(h)):
            rows += [(r["sentence1"], r["sentence2"], int(float(r["score"]) >= 2.5)) for r in reader]
    binary = _write_pairs(tmp_path / "binary", rows, "label")
    return {
        "stsb": {"dataset": str(scored_folder), "text_columns": ("sentence1", "sentence2"), "label_column": "score"},
        "mrpc": {"dataset": str(binary), "text_columns": ("sentence1", "sentence2"), "label_column": "label"},
        "banking77": {"dataset": str(intents), "text_columns": ("utterance",), "label_column": "intent", "batch_size": 8},
    }


@pytest.mark.parametrize(("page", "code"), python_blocks())
def test_python_examples_run(page: Path, code: str, tiny_model_dir: Path, doc_data: dict[str, dict[str, Any]],
                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from siamese_text.config import TrainConfig

    tiny = str(tiny_model_dir)

    def docs_train_config(**kwargs: Any) -> TrainConfig:
        kwargs.update(doc_data.get(kwargs.get("dataset", "stsb"), {}))
        if kwargs.get("model", REAL_MODEL) == REAL_MODEL:
            kwargs["model"] = tiny
        kwargs.update(epochs=1, max_seq_length=32)
        if kwargs.get("samples_per_class"):
            kwargs["samples_per_class"] = min(kwargs["samples_per_class"], 4)
        return TrainConfig(**kwargs)

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    source = re.sub(r"\bTrainConfig\(", "_docs_train_config(", code).replace(REAL_MODEL, tiny)
    namespace: dict[str, Any] = {"__name__": "__main__", "_docs_train_config": docs_train_config}
    exec(compile(source, f"{rel(page)} (python block)", "exec"), namespace)
