"""The base of every HTML form: a text field reads only the posted text, a file field only the posted files."""

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import CombinedMultiDict, MultiDict


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
