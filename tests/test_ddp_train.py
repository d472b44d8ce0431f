"""`siamtext train` on 2 processes (gloo, CPU), as users launch it: `torchrun --nproc_per_node 2 -m siamese_text_cli`.

One torchrun run (tiny random BERT, 32 local pairs) checks the folder, the rank-0-only writes and logs,
and that it holds the very weights one process with the whole batch trains. The bad-input and SIGTERM
tests start the two ranks themselves with the variables torchrun sets (RANK, WORLD_SIZE, MASTER_PORT...),
so each rank's own exit code and output can be read (torchrun stops the other ranks as soon as one fails).
The refusals that need no second process (batch splits, a rank without data) are unit tests at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from siamese_text_cli.main import cli

from siamese_text.config import TrainConfig
from siamese_text.distributed import Ranks, per_device_batch
from siamese_text.errors import ConfigError

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}


def train_args(model, data, out, *extra):
    return ["train", "--model", str(model), "--dataset", str(data), "--text-columns", "sentence1,sentence2",
            "--label-column", "score", "--epochs", "1", "--batch-size", "8", "--max-seq-length", "32",
            "--dropout", "0", "--precision", "fp32", "--output", str(out), *extra]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or p.name.endswith(".lock") or ".old-" in p.name)


def test_torchrun_two_processes_train_the_one_process_model(tiny_model_dir, scored_folder, tmp_path):
    from safetensors.torch import load_file
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "runs" / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "siamese_text_cli", *train_args(tiny_model_dir, scored_folder, out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=ENV, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    # rank 0 alone speaks: one table, one save line, each log line once
    assert done.stdout.count("saved model and results.json") == 1 and done.stdout.count("spearman_cosine") == 1
    assert done.stderr.count("training on 32 pairs") == 1 and "2 processes x 4" in done.stderr
    assert done.stderr.count("step 4/4: loss") == 1 and "Traceback" not in done.stderr
    # rank 0 alone writes: one model folder, one results.json, no temporary folder or lock left
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ddp"]
    assert [p.relative_to(tmp_path) for p in tmp_path.rglob("results.json")] == [Path("runs/ddp/results.json")]
    assert leftovers(tmp_path / "runs") == []
    results = json.loads((out / "results.json").read_text())
    assert results["processes"] == 2 and results["batch_size_per_process"] == 4 and results["train_examples"] == 32
    assert SentenceTransformer(str(out)).encode(["a cat sat on the mat"]).shape == (1, 32)
    # the same 4 global batches of 8 as one process, gradients averaged: the same weights
    alone = tmp_path / "alone"
    result = CliRunner().invoke(cli, [*train_args(tiny_model_dir, scored_folder, alone), "--quiet"])
    assert result.exit_code == 0, result.output
    two, one, base = (load_file(str(p / "model.safetensors")) for p in (out, alone, tiny_model_dir))
    moved = max((one[k] - base[k]).abs().max().item() for k in one if k in base)
    assert moved > 1e-5, "training changed nothing: the comparison below would prove nothing"
    assert max((two[k] - one[k]).abs().max().item() for k in one) < 1e-6


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_ranks(args: list[str], cwd: Path, world_size: int = 2) -> list[subprocess.Popen]:
    """The ranks as torchrun starts them (same variables), each with its own pipes and exit code."""
    port = str(_port())
    procs = []
    for rank in range(world_size):
        env = {**ENV, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size),
               "LOCAL_WORLD_SIZE": str(world_size), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
        procs.append(subprocess.Popen([sys.executable, "-m", "siamese_text_cli", *args], cwd=cwd, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def finish(procs: list[subprocess.Popen], timeout: float = 180) -> list[tuple[int, str, str]]:
    try:
        outputs = [p.communicate(timeout=timeout) for p in procs]
        return [(p.returncode, *output) for p, output in zip(procs, outputs)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def test_bad_input_is_a_one_line_error_with_exit_2_on_every_rank(tiny_model_dir, intents, tmp_path):
    """A class-balanced batch that cannot split over 2 processes (--batch-size 4: 2 texts each, not 2 classes x 2):
    each rank says so in one line and exits 2, before the ranks wait on each other (no hang)."""
    t0 = time.monotonic()
    args = ["train", "--model", str(tiny_model_dir), "--dataset", str(intents), "--text-columns", "utterance",
            "--label-column", "intent", "--loss", "batch-hard-triplet",
            "--batch-size", "4", "--output", str(tmp_path / "m"), "--quiet"]
    ranks = finish(launch_ranks(args, tmp_path))
    for code, _, stderr in ranks:
        errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
        assert code == 2 and len(errors) == 1 and "Traceback" not in stderr, stderr[-2000:]
        assert "2 classes x 2 texts in each process's batch" in errors[0] and "--batch-size 8" in errors[0]
    assert time.monotonic() - t0 < 120
    assert not (tmp_path / "m").exists() and leftovers(tmp_path) == []


@pytest.mark.slow  # a 2-process run, stopped, then resumed on one: a minute or more on 2 loaded cores
def test_sigterm_on_two_processes_leaves_nothing_and_resume_goes_on_with_one(tiny_model_dir, scored_folder, tmp_path):
    """SIGTERM to both ranks (what torchrun and Slurm send) mid-training: exit 130 on each, no temporary folder,
    lock or model; the checkpoints stay, and --resume continues them on one process."""
    out = tmp_path / "m"
    args = train_args(tiny_model_dir, scored_folder, out, "--checkpoint-every", "4", "--no-eval-every-epoch", "--quiet")
    args[args.index("--epochs") + 1] = "40"  # 160 steps: long enough to stop, short enough to finish on one process
    procs = launch_ranks(args, tmp_path)
    deadline = time.monotonic() + 150
    checkpoints = tmp_path / "m.checkpoints"
    while not list(checkpoints.glob("checkpoint-*/rng_state_1.pth")) and time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), finish(procs)
        time.sleep(0.2)
    time.sleep(1.0)
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for code, _, stderr in finish(procs, timeout=60):
        assert code == 130, stderr[-2000:]
        assert "Interrupted" in stderr
    assert not out.exists() and leftovers(tmp_path) == []
    # a changed world size: --batch-size is the global batch, so the steps (and the batches) are the same on 1 process
    resumed = CliRunner().invoke(cli, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "results.json").read_text())["resumed_from"].startswith("checkpoint-")
    assert not checkpoints.exists()


@pytest.mark.parametrize(("loss", "batch", "world", "message"), [
    ("contrastive", 9, 2, "does not split evenly over 2 processes"),
    ("cosent", 2, 4, "smaller than the 4 processes: each needs at least one example of the batch and each compares"),
    ("online-contrastive", 3, 4, "smaller than the 4 processes"),
    ("batch-hard-triplet", 4, 2, "needs 2 classes x 2 texts in each process's batch"),
])
def test_batches_that_cannot_split_over_the_processes_are_refused(loss, batch, world, message):
    config = TrainConfig(loss=loss, batch_size=batch)
    with pytest.raises(ConfigError, match=message):
        per_device_batch(config, Ranks(rank=1, world_size=world))
    assert per_device_batch(config, Ranks()) == batch  # one process: as given


def test_the_global_batch_is_split_evenly():
    assert per_device_batch(TrainConfig(loss="batch-hard-triplet", batch_size=32), Ranks(rank=0, world_size=4)) == 8
    config = TrainConfig(loss="cosent", batch_size=2, gather_across_devices=False)
    with pytest.raises(ConfigError, match="--no-gather-across-devices"):
        per_device_batch(config, Ranks(rank=0, world_size=2))


def test_resume_passes_over_a_checkpoint_stopped_while_saving(tmp_path):
    """A signal during a save leaves the newest folder without trainer_state.json (the trainer writes it last)."""
    from siamese_text.training import _last_checkpoint

    for step, complete in ((4, True), (8, True), (12, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "optimizer.pt").write_bytes(b"x")
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    assert _last_checkpoint(tmp_path) == tmp_path / "checkpoint-8"
    assert _last_checkpoint(tmp_path / "none") is None


def test_train_closes_the_process_group_unless_a_rank_may_still_be_in_a_collective(monkeypatch, tmp_path):
    # A rank that exits with its gloo group open can abort in interpreter finalisation (SIGABRT, "terminate
    # called without an active exception"), and torchrun then stops rank 0 while it writes the model.
    import torch.distributed as dist

    from siamese_text import training

    def returns(config, **_):
        return "trained"

    def every_rank_refuses(config, **_):
        raise ConfigError("--batch-size 3 does not split evenly over 2 processes")

    def one_rank_crashes(config, **_):
        raise RuntimeError("out of memory")

    monkeypatch.setenv("WORLD_SIZE", "2")  # as under torchrun: leave() acts only under a launcher
    for n, (body, raised, closed) in enumerate([(returns, None, True), (every_rank_refuses, ConfigError, True),
                                                (one_rank_crashes, RuntimeError, False)]):
        dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store{n}", rank=0, world_size=1)
        monkeypatch.setattr(training, "_train", body)
        if raised is None:
            assert training.train(TrainConfig(dataset="stsb")) == "trained"
        else:
            with pytest.raises(raised):
                training.train(TrainConfig(dataset="stsb"))
        assert dist.is_initialized() is not closed
        if dist.is_initialized():
            dist.destroy_process_group()
