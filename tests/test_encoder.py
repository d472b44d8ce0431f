import json

import numpy as np
import pytest
import torch

from siamese_text.encoder import SiameseEncoder
from siamese_text.errors import ConfigError, ModelError

TEXTS = ["the cat sat on the mat", "a dog ran in the park", "my card was lost", "how do i reset my password"]


def test_encode_returns_float32_unit_vectors(tiny_encoder):
    emb = tiny_encoder.encode(TEXTS)
    assert emb.dtype == np.float32 and emb.shape == (4, 32)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    assert tiny_encoder.encode(TEXTS[0]).shape == (32,)
    assert isinstance(tiny_encoder.encode(TEXTS, convert_to_tensor=True), torch.Tensor)


def test_twin_shares_weights_so_order_does_not_matter(tiny_encoder):
    ab = tiny_encoder.similarity(TEXTS[:2], TEXTS[2:])
    ba = tiny_encoder.similarity(TEXTS[2:], TEXTS[:2])
    np.testing.assert_allclose(ab, ba, rtol=1e-5)
    same = tiny_encoder.similarity(TEXTS, TEXTS)
    np.testing.assert_allclose(same, 1.0, rtol=1e-5)


def test_mean_pooling_is_masked(tiny_model_dir):
    """Padding must not change an embedding: one text alone equals it in a batch with a long text."""
    enc = SiameseEncoder.from_pretrained(str(tiny_model_dir), normalize=False)
    alone = enc.encode(["the cat"])
    padded = enc.encode(["the cat", "the cat sat on the mat and a dog ran in the park today"])
    np.testing.assert_allclose(alone[0], padded[0], atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_pooling_modes_differ_and_are_recorded(tiny_model_dir, pooling):
    enc = SiameseEncoder.from_pretrained(str(tiny_model_dir), pooling=pooling, normalize=False)
    assert enc.pooling == pooling and not enc.normalize
    mean = SiameseEncoder.from_pretrained(str(tiny_model_dir), pooling="mean", normalize=False).encode(TEXTS)
    if pooling != "mean":
        assert not np.allclose(enc.encode(TEXTS), mean)


def test_saved_folder_is_a_sentence_transformers_model(tiny_encoder, tmp_path):
    from sentence_transformers import SentenceTransformer

    tiny_encoder.save(tmp_path / "m")
    modules = json.loads((tmp_path / "m" / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    st = SentenceTransformer(str(tmp_path / "m"), device="cpu")
    loaded = SiameseEncoder.load(tmp_path / "m")
    np.testing.assert_allclose(st.encode(TEXTS), loaded.encode(TEXTS), atol=1e-6)
    np.testing.assert_allclose(tiny_encoder.encode(TEXTS), loaded.encode(TEXTS), atol=1e-6)
    assert loaded.pooling == "mean" and loaded.normalize and loaded.max_seq_length == 32


def test_save_is_atomic_and_replaces_a_folder_whole_only_when_asked(tiny_encoder, tiny_model_dir, tmp_path):
    folder = tmp_path / "m"
    tiny_encoder.save(folder)
    (folder / "siamese_calibration.json").write_text("{}")  # something an earlier model left there
    plain = SiameseEncoder.from_pretrained(str(tiny_model_dir), pooling="max", normalize=False, max_seq_length=32)
    with pytest.raises(ConfigError, match="already exists and is not empty; pass overwrite=True"):
        plain.save(folder)
    assert SiameseEncoder.load(folder).normalize  # untouched
    plain.save(folder, overwrite=True)
    assert not (folder / "siamese_calibration.json").exists() and not (folder / "2_Normalize").exists()
    loaded = SiameseEncoder.load(folder)
    assert loaded.pooling == "max" and not loaded.normalize
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folder left beside it


def test_no_texts_give_an_empty_n_by_dimension_result(tiny_encoder):
    assert tiny_encoder.encode([]).shape == (0, 32) and tiny_encoder.encode([]).dtype == np.float32
    assert tuple(tiny_encoder.encode([], convert_to_tensor=True).shape) == (0, 32)
    assert tiny_encoder.similarity([], []).shape == (0,)
    np.testing.assert_allclose(tiny_encoder.encode(np.array(TEXTS)), tiny_encoder.encode(TEXTS), atol=1e-6)  # any sequence


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan", "dot"])
def test_similarity_metrics_rank_a_text_highest_with_itself(tiny_encoder, metric):
    sims = tiny_encoder.similarity([TEXTS[0]] * 4, TEXTS, metric=metric)
    assert sims.argmax() == 0


def test_bad_arguments_are_named(tiny_encoder, tmp_path):
    with pytest.raises(ConfigError, match="2 texts in a do not match 3"):
        tiny_encoder.similarity(TEXTS[:2], TEXTS[:3])
    with pytest.raises(ConfigError, match="--metric"):
        tiny_encoder.similarity(TEXTS[:2], TEXTS[:2], metric="jaccard")
    with pytest.raises(ConfigError, match="--pooling"):
        SiameseEncoder.from_pretrained("x", pooling="avg")
    with pytest.raises(ModelError, match="not a model folder"):
        SiameseEncoder.load(tmp_path)
    with pytest.raises(ModelError, match="missing: no such model folder"):
        SiameseEncoder.from_pretrained(str(tmp_path / "missing"))


def test_set_dropout_changes_training_noise_not_encode(tiny_model_dir):
    encoder = SiameseEncoder.from_pretrained(str(tiny_model_dir), max_seq_length=32)
    before = encoder.encode(TEXTS)
    assert encoder.set_dropout(0.5) > 0
    assert {m.p for m in encoder.model.modules() if isinstance(m, torch.nn.Dropout)} == {0.5}
    np.testing.assert_allclose(encoder.encode(TEXTS), before, atol=1e-6)  # inactive outside training
    with pytest.raises(ConfigError, match="--dropout must be in"):
        encoder.set_dropout(1.0)


def test_public_api_is_the_short_all_and_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, siamese_text; assert 'torch' not in sys.modules; "
        "print(sorted(siamese_text.__all__)); siamese_text.SemanticIndex; siamese_text.SiameseEncoder"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(sorted(
        ["Hit", "SemanticIndex", "SiameseEncoder", "SiameseTextError", "TrainConfig", "__version__", "load_data", "train", "training_rows"]
    ))


LONG_TEXT = " ".join(["the cat sat on the mat"] * 50)  # 300 words: more tokens than the tiny models have positions


def test_default_length_is_capped_at_the_model_s_positions(tiny_model_dir):
    """The default (256 tokens) must not break a model with fewer positions: the tiny BERT has 64."""
    encoder = SiameseEncoder.from_pretrained(str(tiny_model_dir))
    assert encoder.max_seq_length == 64
    assert encoder.encode([LONG_TEXT]).shape == (1, 32)
    assert SiameseEncoder.from_pretrained(str(tiny_model_dir), max_seq_length=64).encode([LONG_TEXT]).shape == (1, 32)


def test_a_length_beyond_the_model_s_positions_is_refused(tiny_model_dir):
    with pytest.raises(ConfigError, match=rf"^--max-seq-length 65 is longer than the 64 positions of {tiny_model_dir}; give at most 64$"):
        SiameseEncoder.from_pretrained(str(tiny_model_dir), max_seq_length=65)


def test_roberta_style_models_take_fewer_positions_than_their_table(tiny_model_dir, tmp_path):
    """RoBERTa numbers positions from padding_idx + 1: a table of 34 with padding_idx 0 takes 33 tokens."""
    import shutil

    from transformers import RobertaConfig, RobertaModel

    path = tmp_path / "tiny-roberta"
    shutil.copytree(tiny_model_dir, path)
    (path / "config.json").unlink()
    for weights in path.glob("*.safetensors"):
        weights.unlink()
    torch.manual_seed(0)
    RobertaModel(RobertaConfig(vocab_size=200, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                               max_position_embeddings=34, pad_token_id=0)).save_pretrained(path)
    encoder = SiameseEncoder.from_pretrained(str(path))
    assert encoder.max_seq_length == 33 and encoder.encode([LONG_TEXT]).shape == (1, 32)
    with pytest.raises(ConfigError, match="34 is longer than the 33 positions"):
        SiameseEncoder.from_pretrained(str(path), max_seq_length=34)


def test_model_paths_that_cannot_be_a_model_are_named(tiny_encoder, tmp_path):
    import shutil

    folder = tiny_encoder.save(tmp_path / "m")
    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(folder, no_tokenizer)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (no_tokenizer / name).unlink(missing_ok=True)
    for load in (SiameseEncoder.load, SiameseEncoder.from_pretrained):  # it used to embed every text as [UNK]
        with pytest.raises(ModelError, match="no-tokenizer has no tokenizer files .*copy them from the base model"):
            load(str(no_tokenizer))
    with pytest.raises(ModelError, match="config.json is a file, not a model folder"):
        SiameseEncoder.load(folder / "config.json")
    with pytest.raises(ModelError, match="no such model folder; check the path"):
        SiameseEncoder.from_pretrained(str(tmp_path / "nonexistent"))
    truncated = tmp_path / "truncated"
    shutil.copytree(folder, truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(ModelError, match="cannot load model .*truncated"):
        SiameseEncoder.load(truncated)
