"""A short excerpt of the visible text around the first match, with the match marked for highlighting."""

from markupsafe import Markup, escape

from .fields import SEARCHED_FIELDS


def searched_text(shown: dict) -> str:
    """The searched fields of an instrument as a viewer sees it (present.instrument_json, which goes through
    visibility.project): the text a snippet is cut from, so it can only quote what that viewer may read."""
    return "\n".join(str(shown[name]) for name in SEARCHED_FIELDS if shown.get(name))


def snippet(body: str, q: str, width: int = 60) -> Markup:
    body = (body or "").replace("\n", " · ")
    q = (q or "").strip()
    position = body.lower().find(q.lower()) if q else -1
    if position < 0:
        return escape(body[:width * 2] + ("…" if len(body) > width * 2 else ""))
    start = max(position - width // 2, 0)
    end = min(position + len(q) + width, len(body))
    before, match, after = body[start:position], body[position:position + len(q)], body[position + len(q):end]
    return Markup("{}{}<mark>{}</mark>{}{}").format("…" if start else "", before, match, after,
                                                    "…" if end < len(body) else "")
