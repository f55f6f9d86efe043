"""The shared page helpers: the one yuan field (instrument_share.forms.YuanField), the page number
(web.paging.page_arg) and the platform's time zone (core.clock.local_zone)."""

from zoneinfo import ZoneInfo

import pytest
from flask_babel import force_locale
from werkzeug.datastructures import MultiDict

from instrument_share.core.clock import local_zone
from instrument_share.forms import Form, YuanField
from instrument_share.web.paging import MAX_PAGE, page_arg, page_url

NOT_AN_AMOUNT = "An amount in yuan with at most two decimals."
NEGATIVE = "The amount must not be negative."


class AmountForm(Form):
    class Meta:
        csrf = False

    amount = YuanField("Amount")


def posted(text: str | None, **kwargs) -> AmountForm:
    form = AmountForm(formdata=MultiDict({} if text is None else {"amount": text}), **kwargs)
    form.validate()
    return form


@pytest.mark.parametrize(("text", "fen"), [("1234.5", 123450), ("1,234.50", 123450), ("0", 0), (" 7 ", 700),
                                           ("9999999999999.99", 999999999999999), ("", None)])
def test_yuan_text_becomes_fen(app, text, fen):
    with app.test_request_context("/", method="POST"):
        form = posted(text)
        assert form.amount.data == fen and not form.errors


@pytest.mark.parametrize(("text", "message"), [
    ("12.345", NOT_AN_AMOUNT), ("1e3", NOT_AN_AMOUNT), ("1e999999999", NOT_AN_AMOUNT), ("1,2,3", NOT_AN_AMOUNT),
    ("abc", NOT_AN_AMOUNT), ("10000000000000", NOT_AN_AMOUNT), ("-0.01", NEGATIVE)])
def test_a_refused_text_stays_in_the_box_with_the_reason(app, text, message):
    with app.test_request_context("/", method="POST"), force_locale("en"):
        form = posted(text)
        assert form.amount.data is None and [str(e) for e in form.errors["amount"]] == [message]
        assert form.amount._value() == text


def test_a_stored_amount_is_shown_in_yuan(app):
    with app.test_request_context("/"):
        assert AmountForm(formdata=None, data={"amount": 123405}).amount._value() == "1234.05"
        assert AmountForm(formdata=None).amount._value() == ""


@pytest.mark.parametrize(("query", "page"), [("", 1), ("?page=3", 3), ("?page=0", 1), ("?page=-4", 1),
                                             ("?page=x", 1), (f"?page={10**30}", MAX_PAGE)])
def test_the_page_number_is_clamped(app, query, page):
    with app.test_request_context(f"/admin/users{query}"):
        assert page_arg() == page


def test_a_pager_link_keeps_the_filters(app):
    with app.test_request_context("/admin/users?q=li&page=2"):
        from flask import request

        assert page_url("admin.users_list", request.args, 3) == "/admin/users?q=li&page=3"


def test_local_zone_is_the_configured_one_and_shanghai_outside_an_application(app):
    assert local_zone() == ZoneInfo("Asia/Shanghai")
    with app.app_context():
        assert local_zone() == ZoneInfo(app.config["TIMEZONE"])
