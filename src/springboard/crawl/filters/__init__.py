"""Row filters: URL/host, language, and the Gopher / C4 / FineWeb quality heuristics."""

from springboard.crawl.filters.language import LanguageFilter
from springboard.crawl.filters.quality import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from springboard.crawl.filters.url import UrlFilter

__all__ = [
    "C4QualityFilter",
    "FineWebQualityFilter",
    "GopherQualityFilter",
    "GopherRepetitionFilter",
    "LanguageFilter",
    "UrlFilter",
]
