"""The base of every HTML form (a text field reads only the posted text, a file field only the posted files), and the
one field for an amount of money typed in yuan."""

import re

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from wtforms import StringField

from .core.money import format_yuan, yuan_to_fen

# Plain decimal notation only: 1234.5, 1,234.50, -3. Exponents ("1e3") and stray commas are typos, not amounts.
YUAN_TEXT = re.compile(r"^-?(\d{1,3}(,\d{3})+|\d{1,16})(\.\d{0,2})?$")


class Form(FlaskForm):
    """Flask-WTF gives every field the posted files and text together, so a file sent under a text field's name
    reached that field, its validators and the services as an upload object instead of a string (a 500 on every
    form). Here files are offered to the form's file fields only; any other field sees the text parts."""

    class Meta:
        def wrap_formdata(self, form, formdata):
            formdata = super().wrap_formdata(form, formdata)
            if isinstance(formdata, CombinedMultiDict):  # the request carried files
                uploads = {field.name for field in form if isinstance(field, FileField)}
                files = MultiDict([(k, v) for k, v in request.files.items(multi=True) if k in uploads])
                return CombinedMultiDict((files, request.form))
            return formdata


class YuanField(StringField):
    """An amount typed in yuan, held as integer fen in `data` (None when left empty).

    The rules are those of core.money.yuan_to_fen (at most two decimals, nothing absurdly large) and no negative
    amount; whether zero or a large amount is acceptable is the service's decision. A refused text stays in the box
    with the reason next to it.
    """

    def process_formdata(self, valuelist):
        if not valuelist:  # not sent at all: keep what the form started with
            return
        self.data = None
        raw = valuelist[0].strip()
        if not raw:
            return
        try:
            if not YUAN_TEXT.match(raw):
                raise ValueError(raw)
            fen = yuan_to_fen(raw)
        except (ValueError, ArithmeticError) as exc:
            raise ValueError(_l("An amount in yuan with at most two decimals.")) from exc
        if fen < 0:
            raise ValueError(_l("The amount must not be negative."))
        self.data = fen

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else format_yuan(self.data)
