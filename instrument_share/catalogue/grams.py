"""Tokens for Chinese substring search of any length, on SQLite FTS5 and PostgreSQL full text alike.

Chinese text has no spaces, and trigram indexes cannot match the one- and two-character queries people type most
(质谱, 光谱). So each run of Han characters is indexed as its single characters and its overlapping two-character
grams; a query of n ≥ 2 characters becomes the phrase of its n−1 consecutive grams, which matches exactly where the
query is a substring. Latin letters and digits are indexed as lower-case words and matched by prefix.
"""

import re
import unicodedata
from dataclasses import dataclass

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN_RE = re.compile(f"[{_HAN}]+|[0-9a-z]+")
_HAN_RE = re.compile(f"^[{_HAN}]")
RUN_BREAK = "x"  # a token no query puts in the bigram column


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").lower()


@dataclass(frozen=True)
class Tokens:
    uni: str
    bi: str
    words: str


def index_tokens(texts: list[str]) -> Tokens:
    uni: list[str] = []
    bi: list[str] = []
    words: list[str] = []
    for text in texts:
        for run in _RUN_RE.findall(_normalise(text)):
            if _HAN_RE.match(run):
                uni.extend(run)
                grams = [run[i:i + 2] for i in range(len(run) - 1)]
                # A break between runs, so a phrase cannot join the grams of two runs ("色谱、谱图" holds no 色谱图).
                if grams and bi:
                    bi.append(RUN_BREAK)
                bi.extend(grams)
            else:
                words.append(run)
    return Tokens(" ".join(uni), " ".join(bi), " ".join(words))


@dataclass(frozen=True)
class QueryPart:
    column: str  # uni | bi | words
    terms: tuple[str, ...]  # a phrase (consecutive terms) or, for words, one prefix
    prefix: bool = False


def parse_query(q: str, max_parts: int = 8) -> list[QueryPart]:
    """Split a query into parts that must all match; an empty list means no text condition."""
    parts: list[QueryPart] = []
    for run in _RUN_RE.findall(_normalise(q))[:max_parts]:
        if _HAN_RE.match(run):
            if len(run) == 1:
                parts.append(QueryPart("uni", (run,)))
            else:
                parts.append(QueryPart("bi", tuple(run[i:i + 2] for i in range(len(run) - 1))))
        else:
            parts.append(QueryPart("words", (run[:40],), prefix=True))
    return parts
