"""SemanticIndex: exact/faiss/binary search agree with brute force, save/load round trips without pickle,
and bad folders, records and models are refused with one line."""

import json

import numpy as np
import pytest

from siamese_text.errors import ConfigError, DataError, ModelError
from siamese_text.search import (
    Hit,
    SemanticIndex,
    exact_top_k,
    hamming_candidates,
    pack_codes,
    search_texts,
)

TEXTS = [
    "my card was lost", "my card was stolen", "how do i reset my password", "what is the exchange rate",
    "the cat sat on the mat", "a dog ran in the park", "how do i top up my account", "a child plays guitar",
]


def brute_force(corpus: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ corpus.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize(("n", "b", "k", "block"), [(7, 1, 3, 1 << 23), (9000, 1, 10, 1 << 23), (9000, 5, 10, 2000),
                                                    (20000, 64, 25, 50_000), (3, 4, 10, 1 << 23)])
def test_exact_top_k_matches_brute_force(n, b, k, block):
    rng = np.random.default_rng(n + b)
    corpus, queries = rng.standard_normal((n, 24), dtype=np.float32), rng.standard_normal((b, 24), dtype=np.float32)
    scores, rows = exact_top_k(corpus, queries, k=k, block_elements=block)
    expected = brute_force(corpus, queries, min(k, n))
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ corpus.T, expected, 1), rtol=1e-5)
    assert (np.diff(scores, axis=1) <= 0).all()


def test_exact_top_k_breaks_ties_by_row():
    corpus = np.ones((6000, 4), dtype=np.float32)  # every score equal: the first rows win
    _, rows = exact_top_k(corpus, np.ones((2, 4), dtype=np.float32), k=5, block_elements=1000)
    np.testing.assert_array_equal(rows, [[0, 1, 2, 3, 4]] * 2)


def test_hamming_candidates_are_the_smallest_distances():
    from siamese_text.scoring import hamming_distance_matrix, pack_bits

    rng = np.random.default_rng(0)
    corpus, queries = rng.standard_normal((3000, 70)), rng.standard_normal((3, 70))  # 70 bits: a padded word
    codes = pack_codes(corpus)
    assert codes.shape == (2, 3000) and codes.dtype == np.uint64
    reference = hamming_distance_matrix(pack_bits(queries), pack_bits(corpus))
    for dist, found in zip(reference, hamming_candidates(codes, pack_codes(queries).T.copy(), m=20)):
        cutoff = np.sort(dist)[19]
        assert set(found) == set(np.flatnonzero(dist <= cutoff))  # the 20 nearest, ties at the cut kept


@pytest.mark.parametrize("backend", ["exact", "binary", "faiss"])
def test_backends_find_the_exact_neighbours_on_clustered_data(backend):
    if backend == "faiss":
        pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    centres = unit(rng.standard_normal((40, 64)))
    corpus = unit(centres[np.arange(2000) % 40] + 0.08 * rng.standard_normal((2000, 64)))
    queries = unit(centres[:20] + 0.08 * rng.standard_normal((20, 64)))
    index = SemanticIndex.from_embeddings(corpus, texts=[f"t{i}" for i in range(2000)], backend=backend)
    scores, rows = index.search_embeddings(queries, top_k=10)
    truth = brute_force(corpus, queries, 10)
    recall = np.mean([len(set(r) & set(t)) / 10 for r, t in zip(rows, truth)])
    assert recall >= (1.0 if backend == "exact" else 0.9)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ corpus.T, rows, 1), rtol=1e-5)


def test_cosine_index_normalises_and_dot_index_does_not():
    raw = np.array([[3.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    cosine = SemanticIndex.from_embeddings(raw, texts=["a", "b", "c"])
    np.testing.assert_allclose(np.linalg.norm(cosine.embeddings, axis=1), 1.0, rtol=1e-6)
    scores, rows = cosine.search_embeddings([[2.0, 2.0]], top_k=1)
    assert rows[0, 0] == 2 and scores[0, 0] == pytest.approx(1.0)
    dot = SemanticIndex.from_embeddings(raw, texts=["a", "b", "c"], metric="dot")
    scores, rows = dot.search_embeddings([[2.0, 2.0]], top_k=1)
    assert rows[0, 0] == 0 and scores[0, 0] == pytest.approx(6.0)


def test_unit_float32_input_is_not_copied():
    corpus = unit(np.random.default_rng(0).standard_normal((10, 8)))
    assert SemanticIndex.from_embeddings(corpus, texts=list("abcdefghij")).embeddings is corpus
    assert SemanticIndex.from_embeddings(corpus * 2, texts=list("abcdefghij")).embeddings is not corpus


@pytest.mark.parametrize("backend", ["exact", "binary", "faiss"])
def test_text_search_save_load_round_trip(tiny_encoder, tmp_path, backend):
    if backend == "faiss":
        pytest.importorskip("faiss")
    meta = [{"n": i, "tags": ["x"]} for i in range(len(TEXTS))]
    index = SemanticIndex.build(tiny_encoder, TEXTS, ids=[f"doc{i}" for i in range(len(TEXTS))], metadata=meta,
                                backend=backend)
    hits = index.search(TEXTS[2], top_k=3)
    assert isinstance(hits[0], Hit) and [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].id == "doc2" and hits[0].text == TEXTS[2] and hits[0].metadata == {"n": 2, "tags": ["x"]}
    assert hits[0].score == pytest.approx(1.0, abs=1e-5) and hits[0].score >= hits[1].score >= hits[2].score

    folder = index.save(tmp_path / "index")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {k: manifest[k] for k in ("backend", "count", "dimension", "metric", "normalized")} == {
        "backend": backend, "count": 8, "dimension": 32, "metric": "cosine", "normalized": True}
    assert manifest["model"] == str(tiny_encoder.name_or_path)
    assert not [p for p in folder.iterdir() if p.suffix in (".pkl", ".pickle", ".pt")]
    np.load(folder / "embeddings.npy", allow_pickle=False)

    loaded = SemanticIndex.load(folder, encoder=tiny_encoder)
    again = loaded.search([TEXTS[2], TEXTS[5]], top_k=3)
    assert [h.id for h in again[0]] == [h.id for h in hits] and again[1][0].id == "doc5"
    assert [h.score for h in again[0]] == pytest.approx([h.score for h in hits], abs=1e-6)  # GEMM vs GEMV rounding
    np.testing.assert_array_equal(np.asarray(loaded.embeddings), index.embeddings)


def test_add_grows_the_index_and_keeps_ids_unique(tiny_encoder, tmp_path):
    index = SemanticIndex.build(tiny_encoder, TEXTS[:4])
    index.add(TEXTS[4:])
    assert index.ids == list(range(8)) and len(index) == 8 and index.search(TEXTS[6], top_k=1)[0].id == 6
    with pytest.raises(DataError, match="duplicate id 3 .*row 3 of the index"):
        index.add(["another text"], ids=[3])
    with pytest.raises(DataError, match="not an int like the other ids"):
        index.add(["another text"], ids=["x"])
    index.save(tmp_path / "ix")
    loaded = SemanticIndex.load(tmp_path / "ix", encoder=tiny_encoder)
    loaded.add(["the sun shines today"])
    assert loaded.ids[-1] == 8 and loaded.search("the sun shines today", top_k=1)[0].id == 8


def test_save_refuses_an_existing_folder_in_words_for_python_and_the_cli(tiny_encoder, tmp_path):
    index = SemanticIndex.build(tiny_encoder, TEXTS[:3])
    folder = index.save(tmp_path / "py-index")
    with pytest.raises(ConfigError) as info:
        index.save(folder)
    assert str(info.value) == (f"folder {folder} already exists and is not empty; pass overwrite=True "
                               "(--overwrite in the CLI) to replace it or choose another folder")
    index.add(["the sun shines today"])
    assert len(SemanticIndex.load(index.save(folder, overwrite=True))) == 4


def test_a_moved_model_is_given_with_model_and_checked_by_its_embeddings(tiny_encoder, tmp_path):
    import shutil

    from siamese_text.encoder import SiameseEncoder

    tiny_encoder.save(tmp_path / "model")
    SemanticIndex.build(SiameseEncoder.load(tmp_path / "model"), TEXTS).save(tmp_path / "ix")
    shutil.move(tmp_path / "model", tmp_path / "moved")
    with pytest.raises(ModelError, match=r"cannot load this index's model .*/model' \(.*/model: no such model folder.*\); if the model "
                                         r"moved, pass where it is now: --model PATH \(model=PATH in SemanticIndex.load\)"):
        SemanticIndex.load(tmp_path / "ix").search(TEXTS[0])
    moved = SemanticIndex.load(tmp_path / "ix", model=tmp_path / "moved")
    assert moved.search(TEXTS[2], top_k=1)[0].id == 2 and moved.model == str(tmp_path / "moved")
    moved.save(tmp_path / "ix", overwrite=True)  # the manifest now records where the model is
    assert SemanticIndex.load(tmp_path / "ix").search(TEXTS[5], top_k=1)[0].id == 5
    # a model that is not the one that built the index is still refused, by its embeddings
    SiameseEncoder.from_pretrained(str(tiny_encoder.name_or_path), pooling="cls", max_seq_length=32).save(tmp_path / "cls")
    with pytest.raises(ModelError, match="model '.*cls' does not embed text as '.*moved' did when this index was built"):
        SemanticIndex.load(tmp_path / "ix", model=tmp_path / "cls")
    with pytest.raises(ConfigError, match="give encoder or model, not both"):
        SemanticIndex.load(tmp_path / "ix", model=tmp_path / "moved", encoder=tiny_encoder)


def test_search_texts_is_an_in_memory_index(tiny_encoder):
    hits = search_texts(tiny_encoder, ["my card was stolen", "a dog ran"], TEXTS, top_k=2)
    assert [h.id for h in hits[0]][0] == 1 and len(hits) == 2 and len(hits[1]) == 2
    assert search_texts(tiny_encoder, "the cat sat on the mat", TEXTS, top_k=100)[0].id == 4
    assert len(search_texts(tiny_encoder, "x", TEXTS, top_k=100)) == len(TEXTS)  # k above the corpus size


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"texts": []}, DataError, "is empty"),
        ({"texts": ["a", "  "]}, DataError, "row 1: text is empty"),
        ({"texts": ["a", None]}, DataError, "row 1: text is missing"),
        ({"texts": ["a", "b"], "ids": [1, 1]}, DataError, "row 1: duplicate id 1 \\(also at row 0\\)"),
        ({"texts": ["a", "b"], "ids": [1]}, DataError, "1 ids for 2 texts"),
        ({"texts": ["a", "b"], "ids": [1, "b"]}, DataError, "ids must be all integers or all text"),
        ({"texts": ["a", "b"], "metadata": [{}, 3]}, DataError, "row 1: metadata must be a dict"),
        ({"texts": ["a", "b"], "backend": "annoy"}, ConfigError, "--backend 'annoy' is not one of"),
    ],
)
def test_bad_records_are_refused(kwargs, error, message):
    n = len(kwargs["texts"]) or 1
    with pytest.raises(error, match=message):
        SemanticIndex.from_embeddings(np.eye(n, 4, dtype=np.float32), **kwargs)


def test_bad_embeddings_and_top_k_are_refused():
    with pytest.raises(DataError, match="row 1 is not finite"):
        SemanticIndex.from_embeddings([[1.0, 0.0], [np.nan, 1.0]], texts=["a", "b"])
    index = SemanticIndex.from_embeddings(np.eye(3, dtype=np.float32), texts=["a", "b", "c"])
    for k in (0, -1, 2.5):
        with pytest.raises(ConfigError, match="-k/--top-k must be a whole number of at least 1"):
            index.search_embeddings(np.eye(3)[:1], top_k=k)
    with pytest.raises(DataError, match="queries have 2 dimensions but the index has 3"):
        index.search_embeddings([[1.0, 0.0]])
    with pytest.raises(ModelError, match="built from embeddings without a model"):
        index.search("a")


def test_faiss_missing_names_the_pip_command(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_faiss(name, *args, **kwargs):
        if name == "faiss":
            raise ImportError("No module named 'faiss'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_faiss)
    with pytest.raises(ConfigError, match=r"pip install 'siamese-text\[faiss\]'"):
        SemanticIndex.from_embeddings(np.eye(3, dtype=np.float32), texts=["a", "b", "c"], backend="faiss")
