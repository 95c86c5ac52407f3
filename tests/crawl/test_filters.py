"""Every filter rule on a crafted text: a base text that passes, and one change per rule
that trips exactly that rule."""

import pytest

from springboard.crawl.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    LanguageFilter,
    UrlFilter,
)

SENTENCES = [
    "The committee met on Tuesday to review the budget and discuss the new proposal.",
    "Members agreed that the library should have longer opening hours with more staff.",
    "A local teacher said the change would help students to study in the evenings.",
    "The mayor promised to publish a detailed plan before the end of the month.",
    "Several residents asked whether the parking fees would rise again next year.",
    "Officials answered that the fees are fixed until the next election is held.",
    "The meeting ended with a vote to fund a small pilot program in two districts.",
]
GOOD = "\n".join(SENTENCES)


def verdict(flt, text, **row):
    out = flt.filter({"text": text, **row})
    return out if isinstance(out, tuple) else (out, "")


def test_good_text_passes_every_quality_filter():
    for flt in (GopherQualityFilter(), GopherRepetitionFilter(), C4QualityFilter(),
                FineWebQualityFilter()):
        assert verdict(flt, GOOD)[0], type(flt).__name__


@pytest.mark.parametrize("text, reason", [
    ("the cat and the dog " * 5, "gopher_short_doc"),
    (" ".join(["the and of to"] * 30), "gopher_below_avg_threshold"),
    (" ".join(["the", "antidisestablishmentarianism"] * 30), "gopher_above_avg_threshold"),
    (GOOD + "\n" + " ".join(["#tag"] * 20), "gopher_too_many_hashes"),
    (GOOD + "\n" + " ".join(["wait..."] * 20), "gopher_too_many_ellipsis"),
    ("\n".join("• " + s for s in SENTENCES * 2), "gopher_too_many_bullets"),
    ("\n".join(s[:-1] + "..." for s in SENTENCES), "gopher_too_many_end_ellipsis"),
    (GOOD + "\n" + " ".join(["1234 5678 90"] * 12), "gopher_below_alpha_threshold"),
    (" ".join(["committee members discuss budget proposal library hours"] * 10),
     "gopher_enough_stop_words"),
])
def test_gopher_quality_rules(text, reason):
    assert verdict(GopherQualityFilter(), text) == (False, reason)


def test_gopher_long_doc_and_rule_switch_off():
    assert verdict(GopherQualityFilter(max_doc_words=60), GOOD * 2) == (False, "gopher_long_doc")
    assert verdict(GopherQualityFilter(min_doc_words=None), "the cat and the dog")[0]


@pytest.mark.parametrize("text, reason", [
    ("\n\n".join(SENTENCES[:3] + [SENTENCES[0]] * 3), "dup_para_frac"),
    ("\n\n".join(SENTENCES + [" ".join(SENTENCES[:3])] * 3), "dup_para_char_frac"),
    ("\n".join(SENTENCES[:3] + [SENTENCES[0]] * 3), "dup_line_frac"),
    ("\n".join(SENTENCES + [" ".join(SENTENCES[:3])] * 3), "dup_line_char_frac"),
    (GOOD + "\n" + " ".join(["hello world"] * 40), "top_2_gram"),
    (GOOD + " " + " ".join(SENTENCES[0].split()[:6]) + " x " + " ".join(SENTENCES[0].split()[:6]),
     "duplicated_5_n_grams"),
])
def test_gopher_repetition_rules(text, reason):
    flt = GopherRepetitionFilter()
    if reason == "duplicated_5_n_grams":
        flt = GopherRepetitionFilter(top_n_grams=(), dup_n_grams=((5, 0.05),))
    if reason in ("dup_para_char_frac", "dup_line_char_frac"):
        flt = GopherRepetitionFilter(dup_para_frac=None, dup_line_frac=None)
    assert verdict(flt, text) == (False, reason)


def test_top_3_and_4_gram_thresholds():
    text = GOOD + "\n" + " ".join(["one two three four"] * 30)
    assert verdict(GopherRepetitionFilter(top_n_grams=((3, 0.18),), dup_n_grams=()), text) == \
        (False, "top_3_gram")
    assert verdict(GopherRepetitionFilter(top_n_grams=((4, 0.16),), dup_n_grams=()), text) == \
        (False, "top_4_gram")


def test_c4_line_rules_remove_lines():
    flt = C4QualityFilter()
    lines = SENTENCES + [
        "Click here to read more",               # no terminal punctuation
        "Read more...",                          # ellipsis
        "Too short.",                            # < 3 words
        "Please enable JavaScript to view the comments.",
        "This site uses cookies to improve your experience.",
        "See " + "x" * 1001 + " for details.",
        "Paris is the capital of France.[1]",
    ]
    row = {"text": "\n".join(lines)}
    assert flt.filter(row) is True
    kept = row["text"].split("\n")
    assert kept == SENTENCES + ["Paris is the capital of France."]
    for rule in ("no_terminal_punct", "too_few_words", "javascript", "policy", "too_long_word"):
        assert flt.stats[f"line_removed.{rule}"] >= 1, rule


@pytest.mark.parametrize("extra, reason", [
    ("Lorem ipsum dolor sit amet, consectetur adipiscing elit.", "lorem_ipsum"),
    ("function f() { return 1; }", "curly_bracket"),
])
def test_c4_document_rules(extra, reason):
    assert verdict(C4QualityFilter(), GOOD + "\n" + extra) == (False, reason)


def test_c4_too_few_sentences():
    assert verdict(C4QualityFilter(), "\n".join(SENTENCES[:4])) == (False, "too_few_sentences")


@pytest.mark.parametrize("text, reason", [
    ("\n".join(s.rstrip(".") for s in SENTENCES), "line_punct_ratio"),
    (GOOD + "\n" + SENTENCES[0], "char_dup_ratio"),
    ("\n".join(["Short line here."] * 3 + [f"Item {i}." for i in range(20)] + SENTENCES[:2]),
     "short_line_ratio"),
    ("   \n  \n", "empty"),
])
def test_fineweb_rules(text, reason):
    flt = FineWebQualityFilter(char_duplicates_ratio=None) if reason == "short_line_ratio" \
        else FineWebQualityFilter()
    assert verdict(flt, text) == (False, reason)


def test_fineweb_list_ratio():
    text = "\n".join(f"Word{i} x." for i in range(20))
    flt = FineWebQualityFilter(short_line_thr=None, char_duplicates_ratio=None)
    assert verdict(flt, text) == (False, "list_ratio")


def test_url_filter_rules():
    flt = UrlFilter(include_hosts=["example.org"], exclude_hosts=["ads.example.org"],
                    tlds=["org"], include_pattern=r"/docs/", exclude_pattern=r"\.pdf$")
    assert flt.filter({"url": "https://www.example.org/docs/a.html"}) is True
    assert flt.filter({"url": "https://example.com/docs/a"}) == (False, "host_not_included")
    assert flt.filter({"url": "https://ads.example.org/docs/a"}) == (False, "host_excluded")
    assert flt.filter({"url": "https://example.org/blog/a"}) == (False, "pattern_not_matched")
    assert flt.filter({"url": "https://example.org/docs/a.pdf"}) == (False, "pattern_excluded")
    assert flt.filter({}) == (False, "no_url")
    assert UrlFilter(tlds=["de"]).filter({"url": "https://x.fr/"}) == (False, "tld")
    rows = list(flt.run([{"url": "https://example.org/docs/1"}, {"url": "https://a.com/"}]))
    assert len(rows) == 1 and flt.stats == {"kept": 1, "dropped.host_not_included": 1}


def test_language_filter_detects_and_trusts_crawl_hint():
    flt = LanguageFilter(["eng"])
    row = {"text": GOOD}
    assert flt.filter(row) == (True, "") and row["language"] == "eng"
    german = ("Der Ausschuss traf sich am Dienstag, um den Haushalt zu prüfen und den neuen "
              "Vorschlag zu besprechen. Die Mitglieder waren sich einig.")
    assert flt.filter({"text": german}) == (False, "language")
    assert LanguageFilter(["de"]).filter({"text": german}) == (True, "")
    assert flt.filter({"text": german, "language": "eng,deu"}) == (True, "")  # WET header
    assert flt.filter({"text": "hi"}) == (False, "too_short")
