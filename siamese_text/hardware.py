"""What the machine can do fast: the precision ``--precision auto`` picks.

bf16 autocast pays only where the hardware multiplies bfloat16 natively: CUDA GPUs that support
it, and CPUs with AVX512-BF16 or AMX-BF16 units (oneDNN uses them). Elsewhere autocast emulates
bfloat16 and is slower than float32, so ``auto`` keeps float32 there. The saved weights are float32
either way (autocast changes the matmuls, not the parameters).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["cpu_flags", "cpu_has_bf16", "resolve_precision"]

BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty where there is no /proc/cpuinfo)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_bf16(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU has bfloat16 matrix units (AVX512-BF16 or AMX-BF16)."""
    return bool((cpu_flags() if flags is None else flags) & BF16_CPU_FLAGS)


def resolve_precision(precision: str, *, cuda: bool, flags: frozenset[str] | None = None) -> str:
    """``auto`` → ``bf16`` on a GPU that supports it or a CPU with bfloat16 units, else ``fp32``;
    any other value is returned as given."""
    if precision != "auto":
        return precision
    if cuda:
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16(flags) else "fp32"
