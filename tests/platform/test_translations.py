"""The Simplified Chinese catalogue is complete, compiled and faithful, and the language switch works.

How to add strings: docs/translations.md.
"""

import io
import os
import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from instrument_share.accounts.roles import Role
from instrument_share.db import db

from ..conftest import make_test_app
from ..factories import Factory, login, post_form

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "instrument_share" / "translations"
ZH_PO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
ZH_MO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.mo"
# The same keywords as the extract command in docs/translations.md (gettext, ngettext and _ are Babel defaults).
KEYWORDS = DEFAULT_KEYWORDS | {"_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
# A %-conversion as Python and Jinja's newstyle gettext see it: %(name)s, %(mb).1f, %d, %% ...
CONVERSION = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")


def _key(message) -> tuple:
    return message.id, message.context


def _strings(message) -> tuple[str, ...]:
    return tuple(message.string) if isinstance(message.string, list | tuple) else (message.string,)


def _msgids(message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, list | tuple) else (message.id,)


def _conversions(text: str) -> Counter:
    """Every %-conversion in the text; a lone % that is no conversion counts as "%?" (it would break formatting)."""
    found = Counter(CONVERSION.findall(text))
    stray = text.count("%") - sum(2 if c == "%%" else 1 for c in found.elements())
    if stray:
        found["%?"] = stray
    return found


def _walked(dirpath: str) -> bool:
    """As `--ignore-dirs '.* __pycache__'` in the extract command; Babel's own default would also skip "_" folders."""
    name = os.path.basename(dirpath)
    return not name.startswith(".") and name != "__pycache__"


@pytest.fixture(scope="module")
def zh_catalog():
    with ZH_PO.open("rb") as fh:
        return read_po(fh, locale="zh")


@pytest.fixture(scope="module")
def source_messages() -> dict[tuple, set[str]]:
    """A fresh extraction of the current sources with babel.cfg: (msgid, context) → where it is used."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh, "babel.cfg")
    found: dict[tuple, set[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True,
            directory_filter=_walked):
        key = (tuple(message) if isinstance(message, list | tuple) else message, context)
        found.setdefault(key, set()).add(f"{filename}:{lineno}")
    return found


def test_extraction_covers_python_html_and_mail_templates(source_messages):
    files = {place.rsplit(":", 1)[0] for places in source_messages.values() for place in places}
    assert any(f.startswith("instrument_share/") and f.endswith(".py") for f in files)
    assert any(f.startswith("templates/") and f.endswith(".html") for f in files)
    assert any(f.startswith("templates/mail/") and f.endswith(".txt") for f in files)
    assert "templates/_macros/forms.html" in files  # folders starting with "_" are read too
    assert not any(f.startswith((".venv", "tests/")) for f in files)
    assert len(source_messages) > 100


def test_every_source_string_has_a_chinese_translation(source_messages, zh_catalog):
    catalogue = {_key(m): m for m in zh_catalog if m.id}
    problems = []
    for key, places in sorted(source_messages.items(), key=lambda item: sorted(item[1])[0]):
        message = catalogue.get(key)
        where = ", ".join(sorted(places)[:3])
        if message is None:
            problems.append(f"not in the catalogue: {key[0]!r} ({where})")
        elif message.fuzzy:
            problems.append(f"fuzzy: {key[0]!r} ({where})")
        elif not all(s.strip() for s in _strings(message)) or len(_strings(message)) != zh_catalog.num_plurals:
            problems.append(f"untranslated: {key[0]!r} ({where})")
    assert not problems, (
        f"{len(problems)} message(s) lack a Chinese translation; see docs/translations.md "
        "(extract, update, translate, compile):\n" + "\n".join(problems))


def test_catalogue_header_is_zh_with_one_plural_form(zh_catalog):
    assert str(zh_catalog.locale) == "zh"
    assert zh_catalog.num_plurals == 1
    assert not zh_catalog.fuzzy


def test_committed_mo_matches_the_po(zh_catalog):
    compiled = io.BytesIO()
    write_mo(compiled, zh_catalog, use_fuzzy=False)
    compiled.seek(0)
    expected = {_key(m): _strings(m) for m in read_mo(compiled) if m.id}
    with ZH_MO.open("rb") as fh:
        committed = {_key(m): _strings(m) for m in read_mo(fh) if m.id}
    stale = sorted(repr(k[0]) for k in expected.keys() ^ committed.keys())
    changed = sorted(repr(k[0]) for k in expected.keys() & committed.keys() if expected[k] != committed[k])
    assert not stale and not changed, (
        "messages.mo is out of date; run `.venv/bin/pybabel compile -d instrument_share/translations`.\n"
        f"missing or extra: {stale[:20]}\nchanged: {changed[:20]}")


def test_placeholders_are_kept_in_every_translation(zh_catalog):
    problems = []
    for message in zh_catalog:
        if not message.id:
            continue
        # With one plural form the single translation serves every count, so it follows the plural msgid.
        wanted = _conversions(_msgids(message)[-1])
        for text in _strings(message):
            if text and _conversions(text) != wanted:
                problems.append(f"{message.id!r}: {dict(wanted)} expected, {text!r} has {dict(_conversions(text))}")
    assert not problems, "placeholders differ:\n" + "\n".join(problems)


def test_translations_add_no_markup(zh_catalog):
    """Jinja treats a translation as safe HTML (variables are escaped, the text is not)."""
    problems = [f"{m.id!r} → {text!r}" for m in zh_catalog if m.id for text in _strings(m)
                if any(text.count(ch) > "".join(_msgids(m)).count(ch) for ch in "<>&")]
    assert not problems, "translations bring in <, > or &:\n" + "\n".join(problems)


@pytest.fixture
def site(database_url, tmp_path):
    """The app with no application context held open, so that every request gets its own `g` as in production.

    (The shared `app` fixture keeps one context open for the whole test; Flask-Babel caches the request's locale
    in `g`, so there a language switch would only show after flask_babel.refresh().)
    """
    site = make_test_app(database_url, tmp_path)
    yield site
    db.engine.dispose()


def test_home_page_is_chinese_by_default_and_the_switch_to_english_is_remembered(site):
    client = site.test_client()
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert "南京市科技资源共享平台" in page
    assert "登录" in page and "企业注册" in page
    assert "Sign in" not in page

    response = post_form(client, "/language", {"lang": "en", "next": "/"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/")

    page = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Sign in" in page and "Register an enterprise" in page
    assert "登录" not in page
    # The choice is kept in the session: the next page is English too.
    assert "Forgot your password?" in client.get("/login").get_data(as_text=True)

    post_form(client, "/language", {"lang": "zh", "next": "/login"})
    assert "忘记密码？" in client.get("/login").get_data(as_text=True)


def test_the_language_switch_ignores_unknown_languages_and_forged_posts(site):
    client = site.test_client()
    post_form(client, "/language", {"lang": "fr", "next": "/"})
    assert "登录" in client.get("/").get_data(as_text=True)
    client.post("/language", data={"lang": "en", "next": "/"})  # no CSRF token
    assert "登录" in client.get("/").get_data(as_text=True)


def test_a_signed_in_users_choice_follows_the_account(site):
    with site.app_context():
        username = Factory(site).user(roles=(Role.sme_user,)).username
    client = site.test_client()
    login(client, username)
    post_form(client, "/language", {"lang": "en", "next": "/"})

    other_browser = site.test_client()
    login(other_browser, username)
    page = other_browser.get("/").get_data(as_text=True)
    assert '<html lang="en">' in page and "Sign out" in page


def test_forms_and_messages_are_translated(site):
    client = site.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert "用户名" in page and "忘记密码？" in page
    failed = post_form(client, "/login", {"username": "nobody", "password": "wrong password"}, page="/login")
    assert "登录失败：用户名、密码或验证码错误" in failed.get_data(as_text=True)
