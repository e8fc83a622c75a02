"""Bearer tokens (HS256): who is calling, and which seller's disputes they may see."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from fastapi import FastAPI

from shared.errors import NotFound
from shared.web.auth import (
    OperatorDep,
    Principal,
    PrincipalDep,
    Role,
    decode_token,
    mint_token,
    seller_filter,
)
from shared.web.problems import SHARED_PROBLEMS, ProblemError, install_problem_handlers, problem_for

SECRET = "test-secret-long-enough-for-hs256-and-hs512-" + "x" * 32


def _app() -> FastAPI:
    app = FastAPI()
    app.state.auth_secret = SECRET
    install_problem_handlers(app)

    @app.get("/me")
    async def me(principal: PrincipalDep) -> dict[str, str | None]:
        return {"role": principal.role, "seller_id": principal.seller_id}

    @app.get("/sellers/{seller_id}/disputes")
    async def seller_disputes(seller_id: str, principal: PrincipalDep) -> dict[str, str]:
        if not principal.can_see(seller_id):
            raise NotFound("No such resource.")
        return {"seller_id": seller_id}

    @app.post("/dlq/replay")
    async def replay(operator: OperatorDep) -> dict[str, bool]:
        return {"replayed": operator.is_operator}

    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://dispute-desk.test") as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _seller(seller_id: str = "V-100") -> dict[str, str]:
    return _bearer(mint_token(SECRET, Role.seller, seller_id))


def _operator() -> dict[str, str]:
    return _bearer(mint_token(SECRET, "operator"))


def _b64(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _assert_unauthorized(response: httpx.Response, code: str) -> None:
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert response.headers["www-authenticate"].startswith("Bearer")


# --------------------------------------------------------------------------- tokens


def test_seller_token_round_trips_to_a_seller_principal():
    principal = decode_token(SECRET, mint_token(SECRET, Role.seller, "V-100"))
    assert principal == Principal(role=Role.seller, seller_id="V-100")
    assert not principal.is_operator


def test_operator_token_round_trips_to_an_operator_principal():
    principal = decode_token(SECRET, mint_token(SECRET, "operator"))
    assert principal == Principal(role=Role.operator, seller_id=None)
    assert principal.is_operator


def test_minted_token_carries_role_seller_subject_and_lifetime():
    now = datetime(2026, 9, 23, 1, 0, tzinfo=UTC)
    token = mint_token(SECRET, Role.seller, "V-100", ttl=timedelta(minutes=30), now=now)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["role"] == "seller"
    assert claims["seller_id"] == "V-100"
    assert claims["sub"] == "seller:V-100"
    assert claims["iat"] == int(now.timestamp())
    assert claims["exp"] == int((now + timedelta(minutes=30)).timestamp())
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_minting_refuses_unscoped_sellers_scoped_operators_and_unknown_roles():
    with pytest.raises(ValueError):
        mint_token(SECRET, Role.seller)
    with pytest.raises(ValueError):
        mint_token(SECRET, Role.operator, "V-100")
    with pytest.raises(ValueError):
        mint_token(SECRET, "admin")


def test_alg_none_token_is_refused():
    header = _b64({"alg": "none", "typ": "JWT"})
    payload = _b64({"role": "operator", "sub": "operator", "iat": 1, "exp": 4_000_000_000})
    with pytest.raises(ProblemError) as raised:
        decode_token(SECRET, f"{header}.{payload}.")
    assert raised.value.status == 401
    assert raised.value.code == "invalid_token"
    assert raised.value.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_signed_with_another_algorithm_is_refused():
    claims = {"role": "operator", "iat": datetime.now(UTC), "exp": datetime.now(UTC) + timedelta(hours=1)}
    token = jwt.encode(claims, SECRET, algorithm="HS512")
    with pytest.raises(ProblemError) as raised:
        decode_token(SECRET, token)
    assert raised.value.code == "invalid_token"


def test_token_signed_with_another_secret_is_refused():
    token = mint_token("another-secret-of-at-least-32-bytes!", Role.operator)
    with pytest.raises(ProblemError) as raised:
        decode_token(SECRET, token)
    assert raised.value.code == "invalid_token"


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "operator", "iat": 1},  # no exp: would never expire
        {"role": "admin", "iat": 1, "exp": 4_000_000_000},
        {"role": "seller", "iat": 1, "exp": 4_000_000_000},  # seller without seller_id
        {"role": "seller", "seller_id": "", "iat": 1, "exp": 4_000_000_000},
        {"role": ["operator"], "iat": 1, "exp": 4_000_000_000},
        {"seller_id": "V-100", "iat": 1, "exp": 4_000_000_000},  # no role
    ],
)
def test_token_with_missing_or_bad_claims_is_refused(claims):
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(ProblemError) as raised:
        decode_token(SECRET, token)
    assert raised.value.code == "invalid_token"


def _in(delta: timedelta) -> int:
    return int((datetime.now(UTC) + delta).timestamp())


def test_token_with_only_role_seller_id_and_exp_is_accepted():
    # SPEC section 3: other systems mint their own tokens with exactly these claims.
    seller = jwt.encode({"role": "seller", "seller_id": "V-100", "exp": _in(timedelta(hours=1))}, SECRET, "HS256")
    operator = jwt.encode({"role": "operator", "exp": _in(timedelta(hours=1))}, SECRET, "HS256")
    assert decode_token(SECRET, seller) == Principal(role=Role.seller, seller_id="V-100")
    assert decode_token(SECRET, operator) == Principal(role=Role.operator, seller_id=None)


def test_token_issued_in_the_past_is_accepted():
    claims = {"role": "operator", "iat": _in(-timedelta(minutes=5)), "exp": _in(timedelta(hours=1))}
    assert decode_token(SECRET, jwt.encode(claims, SECRET, "HS256")).is_operator


# Built when the test runs, not at collection: a long suite must not turn "future" into "past".
@pytest.mark.parametrize("iat", [lambda: _in(timedelta(minutes=5)), lambda: "yesterday", lambda: True])
def test_token_issued_in_the_future_or_with_a_non_numeric_iat_is_refused(iat):
    claims = {"role": "seller", "seller_id": "V-100", "iat": iat(), "exp": _in(timedelta(hours=1))}
    with pytest.raises(ProblemError) as raised:
        decode_token(SECRET, jwt.encode(claims, SECRET, "HS256"))
    assert (raised.value.status, raised.value.code) == (401, "invalid_token")


async def test_token_with_only_role_seller_id_and_exp_is_accepted_over_http(client):
    token = jwt.encode({"role": "seller", "seller_id": "V-100", "exp": _in(timedelta(hours=1))}, SECRET, "HS256")
    response = await client.get("/me", headers=_bearer(token))
    assert response.status_code == 200
    assert response.json() == {"role": "seller", "seller_id": "V-100"}


async def test_token_issued_in_the_future_answers_401_invalid_token(client):
    claims = {"role": "operator", "iat": _in(timedelta(hours=1)), "exp": _in(timedelta(hours=2))}
    _assert_unauthorized(await client.get("/me", headers=_bearer(jwt.encode(claims, SECRET, "HS256"))), "invalid_token")


def test_operator_token_smuggling_a_seller_id_is_not_scoped():
    claims = {"role": "operator", "seller_id": "V-100", "iat": 1, "exp": 4_000_000_000}
    principal = decode_token(SECRET, jwt.encode(claims, SECRET, algorithm="HS256"))
    assert principal == Principal(role=Role.operator, seller_id=None)


# --------------------------------------------------------------------------- over HTTP


async def test_valid_bearer_token_identifies_the_caller(client):
    response = await client.get("/me", headers=_seller("V-100"))
    assert response.status_code == 200
    assert response.json() == {"role": "seller", "seller_id": "V-100"}


async def test_missing_token_answers_401_missing_token_with_bearer_challenge(client):
    response = await client.get("/me")
    _assert_unauthorized(response, "missing_token")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_non_bearer_authorization_answers_401_missing_token(client):
    for value in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "token-without-scheme"):
        _assert_unauthorized(await client.get("/me", headers={"Authorization": value}), "missing_token")


async def test_bearer_scheme_is_case_insensitive(client):
    token = mint_token(SECRET, Role.operator)
    response = await client.get("/me", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


async def test_expired_token_answers_401_token_expired(client):
    token = mint_token(SECRET, Role.seller, "V-100", ttl=timedelta(hours=1), now=datetime.now(UTC) - timedelta(hours=2))
    response = await client.get("/me", headers=_bearer(token))
    _assert_unauthorized(response, "token_expired")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_garbage_token_answers_401_invalid_token(client):
    _assert_unauthorized(await client.get("/me", headers=_bearer("not.a.jwt")), "invalid_token")


async def test_seller_token_cannot_see_another_sellers_data(client):
    response = await client.get("/sellers/V-200/disputes", headers=_seller("V-100"))
    assert response.status_code == 404  # not 403: do not confirm that V-200's data exists
    assert response.json()["code"] == "not_found"


async def test_seller_token_sees_its_own_data(client):
    response = await client.get("/sellers/V-100/disputes", headers=_seller("V-100"))
    assert response.status_code == 200


async def test_operator_token_sees_every_sellers_data(client):
    for seller_id in ("V-100", "V-200"):
        response = await client.get(f"/sellers/{seller_id}/disputes", headers=_operator())
        assert response.status_code == 200


async def test_seller_token_is_forbidden_from_operator_actions(client):
    response = await client.post("/dlq/replay", headers=_seller())
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


async def test_operator_token_may_run_operator_actions(client):
    response = await client.post("/dlq/replay", headers=_operator())
    assert response.status_code == 200
    assert response.json() == {"replayed": True}


# --------------------------------------------------------------------------- list scoping


def test_seller_filter_pins_sellers_to_their_own_id():
    seller = Principal(Role.seller, "V-100")
    assert seller_filter(seller) == "V-100"
    assert seller_filter(seller, "V-100") == "V-100"
    with pytest.raises(NotFound) as raised:  # a domain error, so handlers can use it too
        seller_filter(seller, "V-200")
    assert problem_for(SHARED_PROBLEMS, raised.value).status == 404


def test_can_see_is_the_owner_or_an_operator():
    assert Principal(Role.seller, "V-100").can_see("V-100")
    assert not Principal(Role.seller, "V-100").can_see("V-200")
    assert Principal(Role.operator, None).can_see("V-200")


def test_seller_filter_lets_operators_choose_or_see_all():
    operator = Principal(Role.operator, None)
    assert seller_filter(operator) is None
    assert seller_filter(operator, "V-200") == "V-200"
