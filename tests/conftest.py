"""Shared fixtures: a tiny random BERT (2 layers, 32 wide, ~200-word vocab) saved to disk, and small data files.

Unit tests run on it offline in seconds; the real all-MiniLM-L6-v2 is only used by tests/test_end_to_end.py.
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest

REAL_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def real_model_cached() -> bool:
    """Whether the real MiniLM is in the Hugging Face cache (``seed_hf_cache.py`` puts it there)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(REAL_MODEL, "config.json"), str)


needs_real_model = pytest.mark.skipif(
    not real_model_cached(), reason=f"{REAL_MODEL} is not in the Hugging Face cache; run python ../shared/tools/seed_hf_cache.py"
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "a the cat dog sat on mat ran in park bank money account card transfer fee refund lost stolen pin "
    "atm cash withdraw balance top up exchange rate currency country limit app password reset is was "
    "my i you we they he she it and or not to of for with how what why where when can do did will "
    "man woman child plays guitar piano eats food drives car walks street red blue green big small "
    "happy sad quick slow bird flies sky water river boat sails ocean sun shines today yesterday"
).split()


def _pairs() -> list[tuple[str, str, float]]:
    import random

    rng = random.Random(0)
    rows = []
    for i in range(48):
        words = rng.sample(WORDS, 6)
        a = " ".join(words)
        if i % 2 == 0:
            b = " ".join(words[:5] + [rng.choice(WORDS)])
            score = 4.0 + rng.random()
        else:
            b = " ".join(rng.sample(WORDS, 6))
            score = rng.random()
        rows.append((a, b, round(score, 2)))
    return rows


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT with a WordPiece tokenizer, saved as a plain Hugging Face folder."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(WORDS)]
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]"
    )
    fast.save_pretrained(path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir: Path):
    from siamese_text.encoder import SiameseEncoder

    return SiameseEncoder.from_pretrained(str(tiny_model_dir), max_seq_length=32)


@pytest.fixture()
def scored_csv(tmp_path: Path) -> Path:
    """A small STS-like file: question,answer,similarity (0-5), with the columns in a surprising order."""
    path = tmp_path / "pairs.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["similarity", "answer", "question"])
        for a, b, s in _pairs():
            writer.writerow([s, b, a])
    return path


@pytest.fixture()
def scored_folder(tmp_path: Path) -> Path:
    """A folder with train/validation/test CSV files of scored pairs."""
    folder = tmp_path / "sts"
    folder.mkdir()
    rows = _pairs()
    for name, part in (("train", rows[:32]), ("validation", rows[32:40]), ("test", rows[40:])):
        with (folder / f"{name}.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["sentence1", "sentence2", "score"])
            writer.writerows(part)
    return folder


INTENT_WORDS = "bank money account card transfer fee refund lost stolen pin atm cash withdraw balance top up exchange rate".split()


@pytest.fixture()
def intents(tmp_path):
    """train/test CSV files of (utterance, intent): 12 intents x 5 texts, 2 test texts per intent."""
    rng = random.Random(0)
    folder = tmp_path / "intents"
    folder.mkdir()
    for split, n in (("train", 5), ("test", 2)):
        with (folder / f"{split}.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["intent", "utterance"])
            for c in range(12):
                for _ in range(n):
                    writer.writerow([f"intent_{c}", " ".join(rng.sample(INTENT_WORDS, 4) + [INTENT_WORDS[c]])])
    return folder
