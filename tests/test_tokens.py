"""Tokenise once: the cache answers the trainer's collator exactly as the model's own preprocess does."""

import pytest
import torch

from siamese_text.data.tokens import TokenCache, pad_fraction
from siamese_text.hardware import cpu_flags, cpu_has_bf16, resolve_precision

TEXTS = ["the cat sat", "a dog ran in the park today", "hello", "the quick brown fox jumps over the lazy dog",
         "the cat sat", "one more sentence about a cat and a dog in a park"]


@pytest.fixture()
def model(tiny_encoder):
    return tiny_encoder.model


def assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


def test_batches_equal_the_models_preprocess(model):
    cache = TokenCache(model.preprocess, pad_token_id=model.tokenizer.pad_token_id)
    assert cache.fill(TEXTS) == 5  # one duplicate
    for start in range(0, len(TEXTS), 3):
        assert_same(cache(TEXTS[start : start + 3]), model.preprocess(TEXTS[start : start + 3]))
    assert_same(cache(list(reversed(TEXTS))), model.preprocess(list(reversed(TEXTS))))
    assert cache.misses == 0


def test_texts_not_cached_are_tokenised_and_kept(model):
    cache = TokenCache(model.preprocess, pad_token_id=model.tokenizer.pad_token_id)
    batch = ["never seen before", "the cat sat"]
    assert_same(cache(batch), model.preprocess(batch))
    assert cache.misses == 2 and "never seen before" in cache.rows
    cache(batch)
    assert cache.misses == 2


def test_a_prompt_goes_to_preprocess_unchanged(model):
    calls = []

    def preprocess(inputs, prompt=None, **kwargs):
        calls.append(prompt)
        return model.preprocess(inputs, prompt=prompt, **kwargs)

    cache = TokenCache(preprocess, pad_token_id=model.tokenizer.pad_token_id)
    cache.fill(TEXTS)
    calls.clear()
    out = cache(TEXTS[:2], prompt="query: ")
    assert calls == ["query: "]
    assert out["input_ids"].shape[1] > cache(TEXTS[:2])["input_ids"].shape[1]


def test_pad_to_a_multiple_and_count_the_padding(model):
    cache = TokenCache(model.preprocess, pad_token_id=model.tokenizer.pad_token_id, pad_to_multiple_of=8)
    cache.fill(TEXTS)
    out = cache(TEXTS[:3])
    plain = model.preprocess(TEXTS[:3])
    width = plain["input_ids"].shape[1]
    assert out["input_ids"].shape[1] % 8 == 0 and out["input_ids"].shape[1] >= width
    assert torch.equal(out["input_ids"][:, :width], plain["input_ids"])
    assert (out["attention_mask"][:, width:] == 0).all()
    assert (out["input_ids"][:, width:] == model.tokenizer.pad_token_id).all()
    real = int(plain["attention_mask"].sum())
    assert cache.real_tokens == real
    assert cache.padded_tokens == out["input_ids"].numel() - real
    assert pad_fraction(cache.real_tokens, cache.padded_tokens) == pytest.approx(1 - real / out["input_ids"].numel())
    assert pad_fraction(0, 0) == 0.0


def test_auto_precision_follows_the_hardware(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n")
    assert "avx512_bf16" in cpu_flags(info) and cpu_has_bf16(cpu_flags(info))
    assert resolve_precision("auto", cuda=False, flags=frozenset({"avx2", "amx_bf16"})) == "bf16"
    assert resolve_precision("auto", cuda=False, flags=frozenset({"avx2", "avx512f"})) == "fp32"
    assert resolve_precision("fp32", cuda=False, flags=frozenset({"avx512_bf16"})) == "fp32"
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_length_counts_tokens_and_caches_new_texts(model):
    cache = TokenCache(model.preprocess, pad_token_id=model.tokenizer.pad_token_id or 0)
    short, long = "the cat", "the cat sat on the mat by the door"
    expected = [int(model.preprocess([t])["attention_mask"].sum()) for t in (short, long)]
    assert [cache.length(short), cache.length(long)] == expected and expected[0] < expected[1]
    assert short in cache.rows and long in cache.rows
