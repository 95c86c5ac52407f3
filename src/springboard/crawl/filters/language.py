"""Language filter on resiliparse's fast detector."""

from __future__ import annotations

from typing import Iterable

from springboard.crawl.langcodes import to_iso639_3
from springboard.crawl.record import Row
from springboard.crawl.steps import Filter


class LanguageFilter(Filter):
    """Keeps rows whose primary language is one of `languages` (ISO-639-1 or -3 codes, as
    Common Crawl writes them: `eng`, `deu`; `en` works too). The language is the row's
    `language` when the crawl already named one (WET header, cc-index `content_languages`,
    primary first) and `trust_given` is set, else detected from `text` with resiliparse's
    `detect_fast`. The detected code (ISO-639-3) is stored in `language`. Drop reasons:
    `language` (another language), `too_short` (fewer than `min_chars` characters to judge)."""

    def __init__(self, languages: Iterable[str] = ("eng",), trust_given: bool = True,
                 min_chars: int = 20, text_field: str = "text") -> None:
        super().__init__()
        self.languages = sorted({to_iso639_3(code) for code in languages})
        self.trust_given, self.min_chars, self.text_field = trust_given, min_chars, text_field

    def filter(self, row: Row) -> bool | tuple[bool, str]:
        given = row.get("language") if self.trust_given else None
        if given:
            lang = to_iso639_3(str(given).split(",")[0].strip())
        else:
            from resiliparse.parse.lang import detect_fast

            text = row.get(self.text_field) or ""
            if len(text.strip()) < self.min_chars:
                return False, "too_short"
            lang = to_iso639_3(detect_fast(text)[0])
            row["language"] = lang
        return (True, "") if lang in self.languages else (False, "language")
