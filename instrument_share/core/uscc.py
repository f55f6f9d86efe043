"""Unified social credit code (GB 32100-2015): 18 characters, mod-31 check character."""

from flask_babel import lazy_gettext as _l

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_VALUES = {ch: i for i, ch in enumerate(ALPHABET)}


class USCCError(ValueError):
    """The code is malformed; the message names the problem."""


def check_character(first17: str) -> str:
    """Return the check character for the first 17 characters of a code."""
    total = sum(_VALUES[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def normalize(raw: str) -> str:
    return (raw or "").strip().upper()


def validate(raw: str) -> str:
    """Return the normalised code or raise USCCError naming what is wrong."""
    code = normalize(raw)
    if len(code) != 18:
        raise USCCError(str(_l("must be 18 characters, got %(n)d", n=len(code))))
    # The 18th character is checked against the computed one, so a bad last character is told what it should be.
    for pos, ch in enumerate(code[:17], start=1):
        if ch not in _VALUES:
            raise USCCError(str(_l("character %(ch)s at position %(pos)d is not allowed "
                                   "(digits and capital letters except I, O, S, V, Z)", ch=ch, pos=pos)))
    expected = check_character(code[:17])
    if code[17] != expected:
        raise USCCError(str(_l("check character is wrong: expected %(expected)s, got %(got)s",
                               expected=expected, got=code[17])))
    return code


def region_code(code: str) -> str:
    """Characters 3–8: the administrative division code of the registering authority."""
    return code[2:8]
