"""The OpenAPI document names the error codes of issue 13's ledger and voucher rules on their operations, and the
claim's ineligibility reasons in the contract's order."""

import pytest

from .test_openapi import document, resolve  # noqa: F401  the fixture

CODES = [
    ("post", "/api/v1/revenue-entries", "409", "payment_exceeds_owed"),
    ("post", "/api/v1/service-records", "409", "listing_not_open"),
    ("post", "/api/v1/bookings/{booking_id}/service-record", "409", "listing_not_open"),
    ("post", "/api/v1/voucher-claims/{claim_id}/pay", "403", "conflict_of_interest"),
]


@pytest.mark.parametrize(("method", "path", "status", "code"), CODES)
def test_the_error_code_is_documented_on_its_operation(document, method, path, status, code):  # noqa: F811
    response = document["paths"][path][method]["responses"][status]
    assert code in response["description"]
    example = response["content"]["application/json"]["examples"][code]
    assert example["summary"] and example["value"]["error"] == code


def test_the_claim_s_reasons_are_an_enum_in_the_contract_s_order(document):  # noqa: F811
    for method, path in (("post", "/api/v1/voucher-claims"), ("get", "/api/v1/voucher-claims/{claim_id}"),
                         ("patch", "/api/v1/voucher-claims/{claim_id}")):
        responses = document["paths"][path][method]["responses"]
        success = next(r for code, r in responses.items() if code.startswith("2"))
        claim = resolve(document, success["content"]["application/json"]["schema"]["$ref"])
        line = resolve(document, claim["properties"]["ineligible"]["items"]["$ref"])
        assert line["properties"]["reason"]["enum"] == [
            "listing_not_open", "mode_not_eligible", "provider_region", "related_provider", "nothing_paid_in_year",
            "already_claimed"]
