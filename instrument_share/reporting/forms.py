"""The report page's form: which quarter, and (for the commission) the platform or a unit."""

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, SelectField
from wtforms.validators import InputRequired, NumberRange

from ..forms import Form
from .periods import MAX_YEAR, MIN_YEAR

QUARTERS = [(str(q), f"Q{q}") for q in range(1, 5)]


class GenerateReportForm(Form):
    """The views set the choices (tuples given to the constructor are deprecated in WTForms)."""

    year = IntegerField(_l("Year"), validators=[InputRequired(), NumberRange(MIN_YEAR, MAX_YEAR)])
    quarter = SelectField(_l("Quarter"), choices=[], validators=[InputRequired()])
    # "platform" or a unit id; the view fills the choices the person may generate.
    scope = SelectField(_l("Report"), validators=[InputRequired()])
