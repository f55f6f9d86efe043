"""Public catalogue pages: search with filters and facets, instrument detail, sitemap."""

from flask import Blueprint, Response, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from ..catalogue import access
from ..catalogue.fields import FIELDS, SERVICE_MODE_LABELS, STATUS_LABELS, VISIBILITY_LABELS
from ..catalogue.models import InstrumentCategory
from ..catalogue.present import instrument_json
from ..catalogue.search import load_instruments, search
from ..catalogue.search_params import search_params_from_args
from ..catalogue.snippets import searched_text, snippet
from ..catalogue.visibility import ANONYMOUS, viewer_for
from ..core.errors import DomainError
from ..db import db
from .actions import refusal_status

bp = Blueprint("catalogue", __name__)


def _viewer():
    return viewer_for(current_user if current_user.is_authenticated else None)


def categories() -> dict[str, InstrumentCategory]:
    return {c.code: c for c in db.session.scalars(select(InstrumentCategory).order_by(InstrumentCategory.code))}


@bp.route("/instruments")
def index():
    viewer = _viewer()
    try:
        params = search_params_from_args(request.args)
    except DomainError as exc:
        return render_template("catalogue/index.html", error=exc, results=[], total=0, params=None, facets={},
                               categories=categories(), modes=SERVICE_MODE_LABELS), refusal_status(exc)
    result = search(viewer, params, facets=True)
    items = [instrument_json(i, viewer) for i in load_instruments(result.instrument_ids, viewer)]
    results = [(item, snippet(searched_text(item), params.q)) for item in items]
    return render_template("catalogue/index.html", results=results, total=result.total, params=params,
                           facets=result.facets, categories=categories(), modes=SERVICE_MODE_LABELS, error=None)


@bp.route("/instruments/<int:instrument_id>")
def detail(instrument_id: int):
    viewer = _viewer()
    instrument = access.get_visible_instrument(instrument_id, viewer)
    data = instrument_json(instrument, viewer)
    return render_template("catalogue/detail.html", item=data, instrument=instrument, fields=FIELDS,
                           categories=categories(), modes=SERVICE_MODE_LABELS, status_labels=STATUS_LABELS,
                           visibility_labels=VISIBILITY_LABELS)


@bp.route("/instruments/export.<any(csv, xlsx):fmt>")
def export(fmt: str):
    """The current search as a file; every cell passes through the viewer's visibility."""
    from dataclasses import replace

    from ..catalogue import exports
    from ..core.spreadsheet import CSV_MIMETYPE, XLSX_MIMETYPE

    viewer = _viewer()
    params = replace(search_params_from_args(request.args), page=1, per_page=exports.EXPORT_LIMIT)
    instruments = load_instruments(search(viewer, params).instrument_ids, viewer)
    if fmt == "csv":
        body, mimetype = exports.to_csv(instruments, viewer), CSV_MIMETYPE
    else:
        body, mimetype = exports.to_xlsx(instruments, viewer), XLSX_MIMETYPE
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": f"attachment; filename=instruments.{fmt}"})


@bp.route("/sitemap.xml")
def sitemap():
    """Published listings an anonymous visitor may see (addresses only)."""
    from ..catalogue.search import SearchParams

    ids = search(ANONYMOUS, SearchParams(sort="newest", per_page=50000)).instrument_ids
    urls = [url_for("catalogue.detail", instrument_id=i, _external=True) for i in ids]
    body = render_template("catalogue/sitemap.xml", urls=[url_for("catalogue.index", _external=True), *urls],
                           home=url_for("main.home", _external=True))
    return Response(body, mimetype="application/xml")


