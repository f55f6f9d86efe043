from instrument_share.accounts.roles import Role

from ..factories import login


def test_a_verified_user_signs_in_and_sees_the_home_page(client, factory):
    user = factory.user(roles=(Role.sme_user,))
    response = login(client, user.username, follow_redirects=True)
    assert response.status_code == 200
    assert user.username in response.get_data(as_text=True)
