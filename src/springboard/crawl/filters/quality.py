"""Quality heuristics as datatrove implements them, with its default thresholds (Gopher:
Rae et al. 2021; C4: Raffel et al. 2020; FineWeb: Penedo et al. 2024). Every rule and its
threshold is an argument; `None` switches a rule off. The drop reason names the rule.

Words are whitespace-separated tokens (datatrove uses a language-specific tokenizer; for
English the counts agree except around punctuation glued to words)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Iterator

from springboard.crawl.record import Row
from springboard.crawl.steps import Filter

PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~…–—«»“”‘’·•")
STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
BULLETS = ("•", "-", "*", "●", "▪", "‣", "◦", "·")
END_PUNCTUATION = (".", "?", "!", '"', "'")
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies",
                     "use of cookies", "use cookies")
CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


def words_of(text: str) -> list[str]:
    return text.split()


def duplicates(items: Iterable[str]) -> tuple[int, int]:
    """(number of repeated items, characters in them), first occurrences not counted."""
    seen: set[str] = set()
    n = chars = 0
    for item in items:
        if item in seen:
            n += 1
            chars += len(item)
        else:
            seen.add(item)
    return n, chars


class GopherQualityFilter(Filter):
    """Gopher quality rules, in order (reason in brackets):
    - non-symbol words between `min_doc_words`=50 [gopher_short_doc] and `max_doc_words`=100,000
      [gopher_long_doc];
    - mean non-symbol word length between `min_avg_word_length`=3 [gopher_below_avg_threshold]
      and `max_avg_word_length`=10 [gopher_above_avg_threshold];
    - `#` per word ≤ `max_symbol_word_ratio`=0.1 [gopher_too_many_hashes], "..."/"…" per word
      ≤ 0.1 [gopher_too_many_ellipsis];
    - lines starting with a bullet ≤ `max_bullet_lines_ratio`=0.9 [gopher_too_many_bullets];
    - lines ending with an ellipsis ≤ `max_ellipsis_lines_ratio`=0.3
      [gopher_too_many_end_ellipsis];
    - words containing a letter ≥ `min_alpha_words_ratio`=0.8 [gopher_below_alpha_threshold];
    - at least `min_stop_words`=2 of the, be, to, of, and, that, have, with
      [gopher_enough_stop_words]."""

    def __init__(self, min_doc_words: int | None = 50, max_doc_words: int | None = 100_000,
                 min_avg_word_length: float | None = 3, max_avg_word_length: float | None = 10,
                 max_symbol_word_ratio: float | None = 0.1,
                 max_bullet_lines_ratio: float | None = 0.9,
                 max_ellipsis_lines_ratio: float | None = 0.3,
                 min_alpha_words_ratio: float | None = 0.8, min_stop_words: int | None = 2,
                 stop_words: Iterable[str] = STOP_WORDS, text_field: str = "text") -> None:
        super().__init__()
        self.min_doc_words, self.max_doc_words = min_doc_words, max_doc_words
        self.min_avg_word_length, self.max_avg_word_length = min_avg_word_length, max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_alpha_words_ratio, self.min_stop_words = min_alpha_words_ratio, min_stop_words
        self.stop_words = frozenset(stop_words)
        self.text_field = text_field

    def filter(self, row: Row) -> bool | tuple[bool, str]:
        text = row.get(self.text_field) or ""
        words = words_of(text)
        n_words = len(words) or 1
        content = [w for w in words if any(ch not in PUNCTUATION for ch in w)]
        if self.min_doc_words is not None and len(content) < self.min_doc_words:
            return False, "gopher_short_doc"
        if self.max_doc_words is not None and len(content) > self.max_doc_words:
            return False, "gopher_long_doc"
        mean_len = sum(map(len, content)) / len(content) if content else 0.0
        if self.min_avg_word_length is not None and mean_len < self.min_avg_word_length:
            return False, "gopher_below_avg_threshold"
        if self.max_avg_word_length is not None and mean_len > self.max_avg_word_length:
            return False, "gopher_above_avg_threshold"
        if self.max_symbol_word_ratio is not None:
            if text.count("#") / n_words > self.max_symbol_word_ratio:
                return False, "gopher_too_many_hashes"
            if (text.count("...") + text.count("…")) / n_words > self.max_symbol_word_ratio:
                return False, "gopher_too_many_ellipsis"
        lines = text.splitlines() or [""]
        if self.max_bullet_lines_ratio is not None:
            bullets = sum(line.lstrip().startswith(BULLETS) for line in lines)
            if bullets / len(lines) > self.max_bullet_lines_ratio:
                return False, "gopher_too_many_bullets"
        if self.max_ellipsis_lines_ratio is not None:
            ends = sum(line.rstrip().endswith(("...", "…")) for line in lines)
            if ends / len(lines) > self.max_ellipsis_lines_ratio:
                return False, "gopher_too_many_end_ellipsis"
        if self.min_alpha_words_ratio is not None:
            alpha = sum(any(ch.isalpha() for ch in w) for w in words)
            if alpha / n_words < self.min_alpha_words_ratio:
                return False, "gopher_below_alpha_threshold"
        if self.min_stop_words is not None:
            if sum(w.lower() in self.stop_words for w in words) < self.min_stop_words:
                return False, "gopher_enough_stop_words"
        return True


def _top_ngram_chars(words: list[str], n: int) -> int:
    grams = Counter(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    if not grams:
        return 0
    gram, count = grams.most_common(1)[0]
    return len(gram) * count


def _duplicated_ngram_chars(words: list[str], n: int) -> int:
    # datatrove's walk: after a repeated n-gram, skip past it so overlaps are counted once
    seen: set[str] = set()
    repeated = i = 0
    while i < len(words) - n + 1:
        gram = "".join(words[i : i + n])
        if gram in seen:
            repeated += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return repeated


class GopherRepetitionFilter(Filter):
    """Gopher repetition rules (reason in brackets): duplicate paragraphs ≤ 0.30 of paragraphs
    [dup_para_frac] and ≤ 0.20 of characters [dup_para_char_frac]; duplicate lines ≤ 0.30
    [dup_line_frac] and ≤ 0.20 of characters [dup_line_char_frac]; the most frequent 2/3/4-gram
    covers ≤ 0.20/0.18/0.16 of characters [top_N_gram]; duplicated 5…10-grams cover ≤ 0.15,
    0.14, 0.13, 0.12, 0.11, 0.10 of characters [duplicated_N_n_grams]."""

    def __init__(self, dup_line_frac: float | None = 0.3, dup_para_frac: float | None = 0.3,
                 dup_line_char_frac: float | None = 0.2, dup_para_char_frac: float | None = 0.2,
                 top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16)),
                 dup_n_grams: tuple[tuple[int, float], ...] = (
                     (5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)),
                 text_field: str = "text") -> None:
        super().__init__()
        self.dup_line_frac, self.dup_para_frac = dup_line_frac, dup_para_frac
        self.dup_line_char_frac, self.dup_para_char_frac = dup_line_char_frac, dup_para_char_frac
        self.top_n_grams, self.dup_n_grams = top_n_grams, dup_n_grams
        self.text_field = text_field

    def filter(self, row: Row) -> bool | tuple[bool, str]:
        text = row.get(self.text_field) or ""
        size = len(text) or 1
        paragraphs = re.split(r"\n{2,}", text.strip())
        n, chars = duplicates(paragraphs)
        if self.dup_para_frac is not None and n / len(paragraphs) > self.dup_para_frac:
            return False, "dup_para_frac"
        if self.dup_para_char_frac is not None and chars / size > self.dup_para_char_frac:
            return False, "dup_para_char_frac"
        lines = re.split(r"\n+", text)
        n, chars = duplicates(lines)
        if self.dup_line_frac is not None and n / len(lines) > self.dup_line_frac:
            return False, "dup_line_frac"
        if self.dup_line_char_frac is not None and chars / size > self.dup_line_char_frac:
            return False, "dup_line_char_frac"
        words = words_of(text)
        for n_, frac in self.top_n_grams:
            if _top_ngram_chars(words, n_) / size > frac:
                return False, f"top_{n_}_gram"
        for n_, frac in self.dup_n_grams:
            if _duplicated_ngram_chars(words, n_) / size > frac:
                return False, f"duplicated_{n_}_n_grams"
        return True


class C4QualityFilter(Filter):
    """C4 rules. Line rules remove lines (counted as `line_removed.<rule>`) and the row's text
    becomes the kept lines; document rules drop the row:
    - lines: strip `[1]`/`[edit]`/`[citation needed]` marks; drop lines not ending in terminal
      punctuation (. ? ! " ') or ending in "..." [no_terminal_punct]; with fewer than
      `min_words_per_line`=3 words [too_few_words]; with a word over `max_word_length`=1,000
      characters [too_long_word]; mentioning "javascript" [javascript]; cookie/terms-of-use
      boilerplate [policy];
    - documents: "lorem ipsum" anywhere [lorem_ipsum]; a `{` [curly_bracket] (code); fewer than
      `min_sentences`=5 sentences left [too_few_sentences]."""

    def __init__(self, min_words_per_line: int | None = 3, max_word_length: int | None = 1000,
                 min_sentences: int | None = 5, terminal_punct: bool = True,
                 javascript: bool = True, policy: bool = True, lorem_ipsum: bool = True,
                 curly_bracket: bool = True, remove_citations: bool = True,
                 text_field: str = "text") -> None:
        super().__init__()
        self.min_words_per_line, self.max_word_length = min_words_per_line, max_word_length
        self.min_sentences, self.terminal_punct = min_sentences, terminal_punct
        self.javascript, self.policy, self.lorem_ipsum = javascript, policy, lorem_ipsum
        self.curly_bracket, self.remove_citations = curly_bracket, remove_citations
        self.text_field = text_field

    def _line_verdict(self, line: str) -> str | None:
        lower = line.lower()
        if self.terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith("...")):
            return "no_terminal_punct"
        words = line.split()
        if self.min_words_per_line is not None and len(words) < self.min_words_per_line:
            return "too_few_words"
        if self.max_word_length is not None and any(len(w) > self.max_word_length for w in words):
            return "too_long_word"
        if self.javascript and "javascript" in lower:
            return "javascript"
        if self.policy and any(p in lower for p in POLICY_SUBSTRINGS):
            return "policy"
        return None

    def filter(self, row: Row) -> bool | tuple[bool, str]:
        kept: list[str] = []
        for line in (row.get(self.text_field) or "").splitlines():
            line = line.strip()
            if self.remove_citations:
                line = CITATION.sub("", line)
            lower = line.lower()
            if self.lorem_ipsum and "lorem ipsum" in lower:
                return False, "lorem_ipsum"
            if self.curly_bracket and "{" in line:
                return False, "curly_bracket"
            reason = self._line_verdict(line)
            if reason:
                self.stats[f"line_removed.{reason}"] += 1
                continue
            kept.append(line)
        text = "\n".join(kept)
        if self.min_sentences is not None and len(sentences(text)) < self.min_sentences:
            return False, "too_few_sentences"
        row[self.text_field] = text
        return True


def sentences(text: str) -> list[str]:
    return [s for s in SENTENCE_END.split(text.replace("\n", " ")) if s.strip()]


class FineWebQualityFilter(Filter):
    """FineWeb's own rules (reason in brackets): lines ending in punctuation ≥
    `line_punct_thr`=0.12 of non-empty lines [line_punct_ratio]; characters in duplicated lines
    ≤ `char_duplicates_ratio`=0.01 of all non-newline characters [char_dup_ratio]; lines of
    ≤ 30 characters ≤ `short_line_thr`=0.67 [short_line_ratio]; newlines per word ≤
    `new_line_ratio`=0.3 [list_ratio]; no non-empty line [empty]."""

    def __init__(self, line_punct_thr: float | None = 0.12, short_line_thr: float | None = 0.67,
                 short_line_length: int = 30, char_duplicates_ratio: float | None = 0.01,
                 new_line_ratio: float | None = 0.3, text_field: str = "text") -> None:
        super().__init__()
        self.line_punct_thr, self.short_line_thr = line_punct_thr, short_line_thr
        self.short_line_length, self.char_duplicates_ratio = short_line_length, char_duplicates_ratio
        self.new_line_ratio, self.text_field = new_line_ratio, text_field

    def filter(self, row: Row) -> bool | tuple[bool, str]:
        text = row.get(self.text_field) or ""
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return False, "empty"
        if self.line_punct_thr is not None:
            ratio = sum(line.endswith(END_PUNCTUATION) for line in lines) / len(lines)
            if ratio < self.line_punct_thr:
                return False, "line_punct_ratio"
        if self.char_duplicates_ratio is not None:
            _, chars = duplicates(lines)
            if chars / max(1, len(text.replace("\n", ""))) > self.char_duplicates_ratio:
                return False, "char_dup_ratio"
        if self.short_line_thr is not None:
            short = sum(len(line) <= self.short_line_length for line in lines) / len(lines)
            if short > self.short_line_thr:
                return False, "short_line_ratio"
        if self.new_line_ratio is not None:
            if text.count("\n") / max(1, len(words_of(text))) > self.new_line_ratio:
                return False, "list_ratio"
        return True


def quality_steps(names: Iterable[str]) -> Iterator[Filter]:
    """Filters by name: gopher (quality + repetition), gopher_quality, gopher_repetition, c4,
    fineweb."""
    table = {
        "gopher": (GopherQualityFilter, GopherRepetitionFilter),
        "gopher_quality": (GopherQualityFilter,),
        "gopher_repetition": (GopherRepetitionFilter,),
        "c4": (C4QualityFilter,),
        "fineweb": (FineWebQualityFilter,),
    }
    for name in names:
        if name not in table:
            from springboard.errors import ValidationError

            raise ValidationError(f"--quality: unknown filter {name!r} ({', '.join(table)})")
        for cls in table[name]:
            yield cls()
