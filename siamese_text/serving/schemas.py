"""Request and response bodies. ``/v1/embeddings`` follows OpenAI's embeddings API, so its clients work unchanged.

Each check raises with a short message; the app prefixes it with the field (``input[2]: empty text``).
Fields a client may add that are not used here (OpenAI's ``user``) are accepted and ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["EmbeddingRequest", "SimilarityRequest", "SearchRequest", "texts_of"]


def _text_list(value: Any, *, what: str) -> list[str]:
    """A string or a non-empty list of strings, none of them empty; anything else is refused with why."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError(f"must be a string or a list of strings, got {type(value).__name__}")
    if not value:
        raise ValueError(f"is an empty list; give at least one {what}")
    for i, text in enumerate(value):
        if isinstance(text, int) or (isinstance(text, list) and all(isinstance(t, int) for t in text)):
            raise ValueError(f"[{i}] is a token id or token list; this server takes texts, send strings")
        if not isinstance(text, str):
            raise ValueError(f"[{i}] must be a string, got {type(text).__name__}")
        if not text.strip():
            raise ValueError(f"[{i}] is an empty text; remove it")
    return value


def texts_of(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class EmbeddingRequest(_Request):
    """OpenAI's embeddings request: ``input`` a string or a list of strings; ``model`` is echoed, not checked."""

    input: str | list[str]
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _input(cls, value: Any) -> Any:
        if isinstance(value, str):
            _text_list(value, what="text")
            return value
        return _text_list(value, what="text")


class SimilarityRequest(_Request):
    """Pairs of texts to score: ``[[text_a, text_b], ...]`` (or one pair); ``metric`` only for an uncalibrated model."""

    pairs: list[list[str]]
    metric: str | None = None
    model: str | None = None

    @field_validator("pairs", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        if isinstance(value, list) and len(value) == 2 and all(isinstance(t, str) for t in value):
            value = [value]  # one pair
        if not isinstance(value, list):
            raise ValueError(f"must be a list of [text_a, text_b] pairs, got {type(value).__name__}")
        if not value:
            raise ValueError("is an empty list; give at least one [text_a, text_b] pair")
        for i, pair in enumerate(value):
            if isinstance(pair, dict) and set(pair) >= {"a", "b"}:
                pair = [pair["a"], pair["b"]]
                value[i] = pair
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError(f"[{i}] must be a pair [text_a, text_b]")
            for side, text in zip("ab", pair):
                if not isinstance(text, str):
                    raise ValueError(f"[{i}] text {side} must be a string, got {type(text).__name__}")
                if not text.strip():
                    raise ValueError(f"[{i}] text {side} is empty; give two non-empty texts")
        return value


class SearchRequest(_Request):
    """One ``query`` or a list of ``queries``; ``k`` hits each, best first; ``filter`` on the metadata."""

    query: str | None = None
    queries: list[str] | None = None
    k: int = Field(default=10, ge=1)
    filter: str | None = None
    model: str | None = None

    @field_validator("query", mode="before")
    @classmethod
    def _query(cls, value: Any) -> Any:
        if value is not None:
            if not isinstance(value, str):
                raise ValueError(f"must be a string, got {type(value).__name__}")
            if not value.strip():
                raise ValueError("is an empty text")
        return value

    @field_validator("queries", mode="before")
    @classmethod
    def _queries(cls, value: Any) -> Any:
        return None if value is None else _text_list(value, what="query")

    def texts(self) -> list[str]:
        if (self.query is None) == (self.queries is None):
            raise ValueError("give either query (one text) or queries (a list of texts)")
        return [self.query] if self.query is not None else list(self.queries)
