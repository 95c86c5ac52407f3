"""Evaluation: ROUGE against references joined on an id, perplexity, model comparison."""

from springboard.evaluate.compare import CompareReport, compare_models, print_compare
from springboard.evaluate.perplexity import PerplexityResult, perplexity, perplexity_of_file
from springboard.evaluate.report import write_report
from springboard.evaluate.rouge import RougeReport, RougeScores, print_rouge, rouge_scores, rouge_table

__all__ = [
    "CompareReport",
    "PerplexityResult",
    "RougeReport",
    "RougeScores",
    "compare_models",
    "perplexity",
    "perplexity_of_file",
    "print_compare",
    "print_rouge",
    "rouge_scores",
    "rouge_table",
    "write_report",
]
