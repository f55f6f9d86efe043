"""Listing pages: the page number a link asks for, and the link to another page of the same listing."""

from flask import request, url_for

# Far beyond any listing's last page; keeps LIMIT/OFFSET arithmetic small whatever number a link carries.
MAX_PAGE = 10**6


def page_arg() -> int:
    """`?page=` as a page number from 1 to MAX_PAGE: missing, not a number, zero or negative is the first page."""
    return min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)


def page_url(endpoint: str, args, page: int) -> str:
    """The same listing with the same filters, on another page."""
    return url_for(endpoint, **{k: v for k, v in args.items() if k != "page"}, page=page)
