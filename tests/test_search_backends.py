"""Every backend behind one protocol: the same filter gives the same rows, delete and upsert by id,
Milvus Lite round trips, and the filter language refuses what not every backend takes."""

import numpy as np
import pytest

from siamese_text.errors import ConfigError, DataError
from siamese_text.search import Filter, FilterError, SemanticIndex
from siamese_text.search.filters import Columns

pytest.importorskip("pymilvus")

BACKENDS = ["exact", "faiss", "binary", "milvus"]
N, DIM = 60, 16


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def corpus(n=N):
    rng = np.random.default_rng(0)
    emb = unit(rng.standard_normal((n, DIM)))
    meta = []
    for i in range(n):
        row = {"lang": ["en", "fr", "de"][i % 3], "year": 2000 + i % 25, "score": round(i / 7, 3)}
        if i % 5 == 0:
            del row["lang"]  # missing field
        if i % 11 == 0:
            row["year"] = "unknown"  # another type than the others
        if i % 4 == 0:
            row["flag"] = bool(i % 8)
        meta.append(row)
    return emb, [f"text {i}" for i in range(n)], meta


def naive(expression, meta, ids):
    """A row-by-row reading of the documented semantics (three-valued logic), to test the vectorised one."""
    import operator

    ops = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}

    def kind(v):
        return "str" if isinstance(v, str) else "num" if isinstance(v, (int, float)) else "other"

    def ev(node, row):  # True / False / None (unknown)
        from siamese_text.search import filters as f

        if isinstance(node, f.Logic):
            values = [ev(p, row) for p in node.parts]
            if node.op == "and":
                return False if False in values else None if None in values else True
            return True if True in values else None if None in values else False
        if isinstance(node, f.Negate):
            v = ev(node.part, row)
            return None if v is None else not v
        value = ids[row] if node.field == "id" else (meta[row] or {}).get(node.field)
        if isinstance(node, f.Member):
            hit = value is not None and any(kind(value) == kind(x) and value == x for x in node.values)
            return not hit if node.negated else hit
        if value is None:
            return None
        if kind(value) != kind(node.value):
            return {"==": False, "!=": True}.get(node.op)
        return ops[node.op](value, node.value)

    root = Filter(expression).root
    return {ids[r] for r in range(len(ids)) if ev(root, r) is True}


FILTERS = [
    'lang == "en"', 'lang != "en"', "year >= 2010", "year < 2005 or score > 5", 'not (lang == "fr")',
    'lang in ["en", "de"]', 'lang not in ["en"]', "flag == true", "flag != true", 'year == "unknown"',
    'lang == "en" and (year > 2010 or flag == false)', "id in [3, 4, 5, 50]", "id > 40 and not (year != 2016)",
    'not (not (lang == "de"))', "score <= 1.5", "year != 2003",
]


@pytest.fixture(scope="module")
def indexes():
    emb, texts, meta = corpus()
    built = {b: SemanticIndex.from_embeddings(emb, texts=texts, metadata=meta, backend=b) for b in BACKENDS}
    yield emb, texts, meta, built
    for index in built.values():
        index.close()


@pytest.mark.parametrize("expression", FILTERS)
def test_the_same_filter_keeps_the_same_rows_on_every_backend(indexes, expression):
    emb, texts, meta, built = indexes
    expected = naive(expression, meta, list(range(N)))
    assert 0 < len(expected) < N, expression  # a filter that keeps all or nothing would test nothing
    cols = Columns(lambda field: list(range(N)) if field == "id" else [m.get(field) for m in meta], N)
    assert set(np.flatnonzero(Filter(expression).mask(cols))) == expected
    for backend, index in built.items():
        (hits,) = index.search_vectors(emb[:1], top_k=N, filter=expression)
        assert {h.id for h in hits} == expected, (backend, expression)
        assert all(h.score >= g.score for h, g in zip(hits, hits[1:]))


def test_backends_rank_alike_and_return_metadata(indexes):
    emb, texts, meta, built = indexes
    exact = [h.id for h in built["exact"].search_vectors(emb[7:8], top_k=5)[0]]
    for backend in ("faiss", "milvus"):
        hits = built[backend].search_vectors(emb[7:8], top_k=5)[0]
        assert [h.id for h in hits] == exact, backend
        assert hits[0].text == "text 7" and hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert hits[0].metadata["year"] == meta[7]["year"] and hits[0].metadata["lang"] == meta[7]["lang"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_delete_and_upsert_by_id_then_save_and_load(backend, tmp_path):
    emb, texts, meta = corpus(40)
    index = SemanticIndex.from_embeddings(emb, texts=texts, metadata=meta, ids=[f"d{i}" for i in range(40)],
                                          backend=backend)
    assert index.delete(["d3", "d4"]) == 2 and len(index) == 38
    hits = index.search_vectors(emb[3:4], top_k=40)[0]
    assert "d3" not in {h.id for h in hits} and len(hits) == 38
    with pytest.raises(DataError, match="cannot delete id 'nope' and 1 more: not in this index; nothing was changed"):
        index.delete(["d5", "nope", "d3"])
    assert len(index) == 38  # d5 is still there
    # upsert: d5 gets a new text and the vector of row 30; d99 is new
    index.upsert(["five, again", "ninety-nine"], ids=["d5", "d99"], metadata=[{"lang": "xx"}, None],
                 embeddings=emb[[30, 31]])
    assert len(index) == 39
    top = index.search_vectors(emb[30:31], top_k=2)[0]
    assert {h.id for h in top} == {"d5", "d30"} and {h.text for h in top} == {"five, again", "text 30"}
    assert index.search_vectors(emb[30:31], top_k=40, filter='lang == "xx"')[0][0].id == "d5"
    with pytest.raises(DataError, match="duplicate id 'd6'"):
        index.add(["again"], ids=["d6"], embeddings=emb[:1])
    folder = index.save(tmp_path / "ix")
    loaded = SemanticIndex.load(folder)
    assert len(loaded) == 39 and sorted(loaded.ids) == sorted(index.ids)
    assert {h.id for h in loaded.search_vectors(emb[30:31], top_k=2)[0]} == {"d5", "d30"}
    assert "d3" not in {h.id for h in loaded.search_vectors(emb[3:4], top_k=39)[0]}
    if backend == "faiss":  # the graph keeps its rows: deleted ones are masked, saved as deleted.npy
        assert (folder / "deleted.npy").exists() and loaded.store.rows == 42  # 40 + 2 upserted
    elif backend in ("exact", "binary"):
        assert loaded.store.rows == 39  # dropped when saved
    loaded.close()
    index.close()


def test_a_filter_that_keeps_few_rows_is_exact_on_a_graph():
    emb, texts, meta = corpus(3000)
    index = SemanticIndex.from_embeddings(emb, texts=texts, metadata=[{"g": i % 100} for i in range(3000)],
                                          backend="faiss", hnsw_m=4, ef_construction=8, ef_search=8)
    (hits,) = index.search_vectors(emb[:1], top_k=10, filter="g == 7")
    rows = np.flatnonzero(np.arange(3000) % 100 == 7)
    truth = rows[np.argsort(-(emb[rows] @ emb[0]))][:10]
    assert [h.id for h in hits] == truth.tolist()


def test_milvus_lite_index_saves_its_database_and_loads_anywhere(tiny_encoder, tmp_path):
    import json
    import shutil

    texts = ["my card was lost", "my card was stolen", "how do i reset my password", "a dog ran in the park"]
    index = SemanticIndex.build(tiny_encoder, texts, metadata=[{"topic": t} for t in ("card", "card", "pw", "other")],
                                backend="milvus")
    folder = index.save(tmp_path / "ix")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["backend"] == "milvus" and manifest["count"] == 4
    assert manifest["milvus"] == {"uri": "milvus.db", "collection": "siamese_text", "lite": True}
    index.close()
    shutil.move(folder, tmp_path / "moved")  # the database goes with the folder
    with SemanticIndex.load(tmp_path / "moved", encoder=tiny_encoder) as loaded:
        hits = loaded.search("my card was stolen", top_k=2, filter='topic == "card"')
        assert [h.id for h in hits] == [1, 0] and hits[0].metadata == {"topic": "card"}
        loaded.add(["the sun shines today"])
        assert len(loaded) == 5 and loaded.search("the sun shines today", top_k=1)[0].id == 4
        loaded.save(tmp_path / "moved")  # the database is already there: the manifest is rewritten
    assert json.loads((tmp_path / "moved" / "manifest.json").read_text())["count"] == 5


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('lang = "en"', "unexpected '='; compare with == at position 6"),
        ("lang == ", "expected a value (a quoted string, a number, true or false), not the end at position 9"),
        ('(lang == "en"', "expected ) to close the (, not the end at position 14"),
        ('lang == "en', "the string opened with \" is not closed at position 9"),
        ('name like "a%"', "like is not in the filter subset every backend takes at position 6"),
        ("", "the filter is empty at position 1"),
        ('lang == "en" year', "expected and, or or the end, not year at position 14"),
        ("flag < true", "true and false compare with == and != only"),
        ("lang in 1", "expected [ to start the list of values"),
        ('lang in [1, "en"]', "a list mixes strings and numbers"),
    ],
)
def test_a_filter_that_does_not_parse_names_the_position(expression, message):
    with pytest.raises(FilterError) as info:
        Filter(expression)
    assert message in str(info.value) and str(info.value).startswith(f"--filter {expression!r}: ")
    assert isinstance(info.value, ConfigError) and "\n" not in str(info.value)


def test_filters_render_for_milvus():
    assert Filter("a == 'x' && !(b >= 2) || c not in [1, 2.5]").to_milvus() == \
        '(a == "x" and not (b >= 2)) or c not in [1, 2.5]'  # the grouping spelled out
    assert Filter('(a == "x" or b == 1) and c != true').to_milvus() == '(a == "x" or b == 1) and c != true'


def test_milvus_missing_names_the_pip_command(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pymilvus(name, *args, **kwargs):
        if name == "pymilvus":
            raise ImportError("No module named 'pymilvus'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pymilvus)
    with pytest.raises(ConfigError, match=r"--backend milvus needs pymilvus and milvus-lite; install them with "
                                          r"pip install 'siamese-text\[milvus\]'"):
        SemanticIndex.from_embeddings(np.eye(3, dtype=np.float32), texts=["a", "b", "c"], backend="milvus")
