"""keymint through Python's OAuth and JWT libraries: Authlib, requests-oauthlib and
PyJWT. Discovery, both client authentication methods, a wrong secret, scope and
resource narrowing, and verification against the remote JWKS.

Reads KEYMINT_ISSUER, KEYMINT_ADMIN_ID and KEYMINT_ADMIN_SECRET (a platform admin).
"""

import json
import os
import time

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from oauthlib.oauth2 import BackendApplicationClient
from oauthlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.integrations.base_client.errors import OAuthError
from requests_oauthlib import OAuth2Session

ISSUER = os.environ["KEYMINT_ISSUER"]
# The suite talks to keymint on loopback over plain HTTP; oauthlib insists on HTTPS.
if ISSUER.startswith("http://127.0.0.1") or ISSUER.startswith("http://localhost"):
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
ADMIN = (os.environ["KEYMINT_ADMIN_ID"], os.environ["KEYMINT_ADMIN_SECRET"])
API = "https://api.example.test"
OTHER = "https://other.example.test"


@pytest.fixture(scope="module")
def metadata():
    document = requests.get(f"{ISSUER}/.well-known/oauth-authorization-server", timeout=10).json()
    assert document["issuer"] == ISSUER
    assert requests.get(f"{ISSUER}/.well-known/openid-configuration", timeout=10).json() == document
    return document


@pytest.fixture(scope="module")
def key(metadata):
    admin = AuthlibSession(*ADMIN, token_endpoint_auth_method="client_secret_basic")
    token = admin.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    response = requests.post(
        f"{ISSUER}/v1/keys",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        json={
            "name": f"python-interop-{time.time_ns()}",
            "scopes": ["read:reports/**", "write:prompts/welcome"],
            "audiences": [API, OTHER],
        },
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def verify(metadata, token, audience):
    """A resource server: signature against the remote JWKS, algorithm pinned to the key's."""
    jwks = jwt.PyJWKClient(metadata["jwks_uri"])
    signing_key = jwks.get_signing_key_from_jwt(token)
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    return jwt.decode(
        token,
        signing_key.key,
        algorithms=[signing_key.algorithm_name],
        issuer=ISSUER,
        audience=audience,
        options={"require": ["iss", "sub", "aud", "iat", "nbf", "exp", "jti"]},
    )


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_gets_a_token_that_verifies_against_the_remote_jwks(metadata, key, method):
    assert method in metadata["token_endpoint_auth_methods_supported"]
    session = AuthlibSession(key["client_id"], key["client_secret"], token_endpoint_auth_method=method)
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert token["token_type"].lower() == "bearer" and token["expires_in"] == 600
    claims = verify(metadata, token["access_token"], API)
    assert claims["client_id"] == key["client_id"] == claims["sub"]
    assert claims["scope"] == "read:reports/** write:prompts/welcome"


def wrong_secret(secret):
    """The secret with its last character changed (whatever that character is)."""
    return secret[:-1] + ("x" if secret[-1] != "x" else "y")


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_reports_a_wrong_secret_as_invalid_client(metadata, key, method):
    wrong = wrong_secret(key["client_secret"])
    assert wrong != key["client_secret"]
    session = AuthlibSession(key["client_id"], wrong, token_endpoint_auth_method=method)
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    assert refused.value.error == "invalid_client"


def test_authlib_narrows_scope_and_resource(metadata, key):
    session = AuthlibSession(key["client_id"], key["client_secret"], scope="read:reports/2026")
    token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials", resource=OTHER)
    assert token["scope"] == "read:reports/2026"
    claims = verify(metadata, token["access_token"], OTHER)
    assert claims["aud"] == OTHER
    with pytest.raises(OAuthError) as refused:
        AuthlibSession(key["client_id"], key["client_secret"], scope="admin:reports/x").fetch_token(
            metadata["token_endpoint"], grant_type="client_credentials"
        )
    assert refused.value.error == "invalid_scope"


def test_requests_oauthlib_backend_application_flow(metadata, key):
    client = BackendApplicationClient(client_id=key["client_id"])
    session = OAuth2Session(client=client)
    token = session.fetch_token(
        token_url=metadata["token_endpoint"],
        client_id=key["client_id"],
        client_secret=key["client_secret"],
        scope=["write:prompts/welcome"],
    )
    assert token["scope"] == ["write:prompts/welcome"]
    verify(metadata, token["access_token"], API)


def test_requests_oauthlib_reports_a_wrong_secret_as_invalid_client(metadata, key):
    session = OAuth2Session(client=BackendApplicationClient(client_id=key["client_id"]))
    with pytest.raises(InvalidClientError):
        session.fetch_token(
            token_url=metadata["token_endpoint"],
            client_id=key["client_id"],
            client_secret="not-the-secret",
            include_client_id=True,
        )


def test_jwks_is_cacheable_and_holds_public_keys_only(metadata):
    response = requests.get(metadata["jwks_uri"], timeout=10)
    assert "max-age=" in response.headers["Cache-Control"]
    keys = response.json()["keys"]
    assert keys, "the JWKS publishes at least the current signing key"
    for jwk in keys:
        assert jwk["kid"] and "d" not in jwk and "p" not in jwk


def create_key(metadata, body):
    """Creates a key through /v1 with the platform admin's token."""
    admin = AuthlibSession(*ADMIN, token_endpoint_auth_method="client_secret_basic")
    token = admin.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    response = requests.post(
        f"{ISSUER}/v1/keys",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        json={"name": f"python-{body.pop('name')}-{time.time_ns()}", **body},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_a_gateway_verifies_raw_keys_with_authlib_introspection(metadata):
    """A gateway not yet on tokens: Authlib's RFC 7662 client sends the raw key."""
    gateway_key = create_key(metadata, {"name": "gateway", "scopes": ["keymint:introspect"]})
    legacy = f"legacy-{time.time_ns()}-Secret-Value"
    caller = create_key(
        metadata,
        {"name": "legacy", "scopes": ["read:reports/**"], "secret": legacy,
         "allowed_cidrs": ["203.0.113.0/24"]},
    )
    gateway = AuthlibSession(
        gateway_key["client_id"], gateway_key["client_secret"],
        token_endpoint_auth_method="client_secret_basic",
    )
    url = metadata["introspection_endpoint"]
    answer = gateway.introspect_token(
        url, token=legacy, token_type_hint="api_key", body="client_ip=203.0.113.7"
    ).json()
    assert answer["active"] is True, answer
    assert answer["client_id"] == caller["id"]
    assert answer["scope"] == "read:reports/**"
    assert answer["workspace_id"] == caller["workspace_id"]
    assert answer["environment"] == caller["environment"]
    assert answer["key_type"] == caller["type"]
    # Outside the key's ranges, a wrong value, a generated key with one character
    # changed: inactive, and nothing more.
    outside = gateway.introspect_token(
        url, token=legacy, token_type_hint="api_key", body="client_ip=192.0.2.1"
    ).json()
    assert outside == {"active": False}
    assert gateway.introspect_token(url, token=legacy + "x").json() == {"active": False}
    generated = gateway_key["client_secret"]
    flipped = wrong_secret(generated)
    assert gateway.introspect_token(url, token=flipped).json() == {"active": False}
    assert gateway.introspect_token(url, token=generated).json()["client_id"] == gateway_key["id"]


def test_authlib_private_key_jwt_authenticates_without_a_secret(metadata):
    """Authlib's RFC 7523 client authentication: an ES256 assertion, no kid, an hour."""
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from joserfc.jwk import ECKey

    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assert "ES256" in metadata["token_endpoint_auth_signing_alg_values_supported"]
    private_key = ec.generate_private_key(ec.SECP256R1())
    public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key()))
    created = create_key(
        metadata,
        {"name": "signer", "scopes": ["read:reports/**", "keymint:introspect"],
         "audiences": [API], "jwks": {"keys": [public_jwk]}},
    )
    assert created["token_endpoint_auth_method"] == "private_key_jwt"
    assert "client_secret" not in created
    pem = ECKey.import_key(private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    token_endpoint = metadata["token_endpoint"]
    session = AuthlibSession(
        created["client_id"], pem,
        token_endpoint_auth_method=PrivateKeyJWT(token_endpoint, alg="ES256"),
    )
    token = session.fetch_token(token_endpoint, grant_type="client_credentials")
    claims = verify(metadata, token["access_token"], API)
    assert claims["client_id"] == created["client_id"]
    # Introspection authenticated the same way (the assertion's aud is the token endpoint).
    answer = session.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
    assert answer.json()["active"] is True

    # Another private key is refused as invalid_client.
    stranger = ECKey.generate_key("P-256")
    forged = AuthlibSession(
        created["client_id"], stranger,
        token_endpoint_auth_method=PrivateKeyJWT(token_endpoint, alg="ES256"),
    )
    with pytest.raises(OAuthError) as refused:
        forged.fetch_token(token_endpoint, grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
