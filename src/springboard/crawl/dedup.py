"""Deduplication: exact (hash of the normalized text) and MinHash near-dedup with FineWeb's
parameters (word 5-gram shingles, 14 bands × 8 hashes).

Both reduce to one rule over a row's keys (one text hash, or 14 band hashes): a row is dropped
when any of its keys already appeared on an earlier row in input order (file order, then
record order). Read sequentially that is a `seen` set; at scale it is "some key's first
occurrence is earlier than this row", the executor's reduce by key (`Step.row_keys`). Every
executor therefore drops exactly the same rows, and of every cluster of near-duplicates the
first row survives."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Iterable, Iterator

import numpy as np

from springboard.crawl.record import Row
from springboard.crawl.steps import Step

ORDER_COLUMN = "_sb_order"  # runners set it: file index << 32 | row index within the file
_MERSENNE = np.uint64((1 << 61) - 1)
_WS = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Case-folded NFKC text without punctuation or symbols, whitespace collapsed: two pages
    differing only in case, quotes or spacing hash the same."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(ch)[0] in "PSC" else ch for ch in text)
    return _WS.sub(" ", text).strip()


class GlobalDedup(Step):
    scope = "global"

    def __init__(self, text_field: str = "text") -> None:
        super().__init__()
        self.text_field = text_field

    def keys(self, text: str) -> list[str]:
        raise NotImplementedError

    def run(self, rows: Iterable[Row]) -> Iterator[Row]:
        seen: set[str] = set()
        for row in rows:
            keys = self.row_keys(row)
            duplicate = any(k in seen for k in keys)
            seen.update(keys)
            if duplicate:
                self.stats["dropped.duplicate"] += 1
            else:
                self.stats["kept"] += 1
                yield row

    def row_keys(self, row: Row) -> list[str]:
        return self.keys(row.get(self.text_field) or "")


class ExactDedup(GlobalDedup):
    """Drops rows whose normalized text (see `normalize`) hashes like an earlier row's."""

    def keys(self, text: str) -> list[str]:
        return [hashlib.sha1(normalize(text).encode()).hexdigest()]


class MinhashDedup(GlobalDedup):
    """MinHash LSH near-dedup: shingles are `ngram`-word windows of the normalized text, each
    hashed to 32 bits (SHA-1) and permuted by `num_buckets × hashes_per_bucket` universal hash
    functions (a·x + b mod 2⁶¹−1, seeded); a band key is the hash of one bucket's minima. Two
    texts share a band with probability 1 − (1 − s⁸)¹⁴ for Jaccard similarity s (0.5 at
    s ≈ 0.69, 0.92 at s = 0.8, 0.01 at s = 0.4)."""

    def __init__(self, ngram: int = 5, num_buckets: int = 14, hashes_per_bucket: int = 8,
                 seed: int = 1, text_field: str = "text") -> None:
        super().__init__(text_field)
        self.ngram, self.num_buckets, self.hashes_per_bucket = ngram, num_buckets, hashes_per_bucket
        self.seed = seed
        rng = np.random.RandomState(seed)
        n = num_buckets * hashes_per_bucket
        # a, b < 2**31 keep a·x + b (x < 2**32) inside uint64 without wrapping
        self._a = rng.randint(1, 2**31 - 1, size=n, dtype=np.uint64)
        self._b = rng.randint(0, 2**31 - 1, size=n, dtype=np.uint64)

    def __getstate__(self) -> dict:
        return {k: v for k, v in vars(self).items() if k not in ("_a", "_b")}

    def __setstate__(self, state: dict) -> None:
        vars(self).update(state)
        rng = np.random.RandomState(self.seed)
        n = self.num_buckets * self.hashes_per_bucket
        self._a = rng.randint(1, 2**31 - 1, size=n, dtype=np.uint64)
        self._b = rng.randint(0, 2**31 - 1, size=n, dtype=np.uint64)

    def shingles(self, text: str) -> set[str]:
        words = normalize(text).split()
        if not words:
            return set()
        n = min(self.ngram, len(words))
        return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}

    def signature(self, text: str) -> np.ndarray | None:
        shingles = self.shingles(text)
        if not shingles:
            return None
        x = np.fromiter(
            (int.from_bytes(hashlib.sha1(s.encode()).digest()[:4], "little") for s in shingles),
            dtype=np.uint64, count=len(shingles),
        )
        return ((x[:, None] * self._a + self._b) % _MERSENNE).min(axis=0)

    def keys(self, text: str) -> list[str]:
        sig = self.signature(text)
        if sig is None:
            return []
        bands = sig.reshape(self.num_buckets, self.hashes_per_bucket)
        return [f"{i}:" + hashlib.blake2b(band.tobytes(), digest_size=8).hexdigest()
                for i, band in enumerate(bands)]


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0
