"""Signing in and calling the API from a Flask test client: the one copy every test module uses."""

import re

PASSWORD = "correct horse battery staple"


def call(client, method: str, path: str, headers: dict | None = None, json=None, *, token: str | None = None,
         **kwargs):
    """A request to the JSON API (`path` below /api/v1), with a bearer token when given."""
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.open("/api/v1" + path, method=method, headers=headers, json=json, **kwargs)


def login(client, username: str, password: str = PASSWORD, **kwargs):
    """Sign in through the login form (CSRF is enforced, so the token is read from the page)."""
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       **kwargs)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def post_form(client, path: str, data: dict | None = None, *, page: str = "/", **kwargs):
    """POST a form with a valid CSRF token taken from `page`."""
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(path, data=(data or {}) | {"csrf_token": token}, **kwargs)


def english(client) -> None:
    with client.session_transaction() as session:
        session["lang"] = "en"


def signed_in(client) -> bool:
    """Whether the client's session cookie signs someone in (a protected page answers instead of redirecting)."""
    response = client.get("/profile/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.location.startswith("/login")
    return False


def sign_in(client, factory, user, password: str = PASSWORD):
    """Password and, for two-factor accounts, the code step; asserts that the person is in."""
    response = login(client, user.username, password)
    if response.status_code == 302 and response.location.startswith("/login/totp"):
        page = client.get("/login/totp")
        response = client.post("/login/totp", data={"code": factory.totp_code(user),
                                                    "csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302 and not response.location.startswith("/login"), response.location
    return response
