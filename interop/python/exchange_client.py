"""Token exchange (RFC 8693) and the JWT bearer grant (RFC 7523) through Authlib,
each token verified with PyJWT against keymint's JWKS. Run by the Rust suite
(tests/api/exchange_clients.rs) against a live keymint; prints one JSON object:
the verified claims of each token and the error codes of the refusals.

Reads KEYMINT_ISSUER, API_AUDIENCE, GATEWAY_ID, GATEWAY_SECRET, SUBJECT_TOKEN,
WORKLOAD_ID, PLATFORM_TOKEN and STRANGER_TOKEN.
"""

import json
import os

import jwt
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
JWT = "urn:ietf:params:oauth:token-type:jwt"

env = os.environ
issuer = env["KEYMINT_ISSUER"]
audience = env["API_AUDIENCE"]
metadata = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10).json()
endpoint = metadata["token_endpoint"]
jwks = jwt.PyJWKClient(metadata["jwks_uri"])


def verify(token):
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=[key.algorithm_name], issuer=issuer,
                      audience=audience, options={"require": ["iss", "sub", "aud", "exp", "jti"]})


def refusal(session, **params):
    try:
        session.fetch_token(endpoint, **params)
    except OAuthError as e:
        return e.error
    return "issued"


gateway = OAuth2Session(env["GATEWAY_ID"], env["GATEWAY_SECRET"],
                        token_endpoint_auth_method="client_secret_basic")
delegated = gateway.fetch_token(endpoint, grant_type=EXCHANGE, subject_token=env["SUBJECT_TOKEN"],
                                subject_token_type=ACCESS, scope="read:invoices/42", audience=audience)
workload = OAuth2Session(env["WORKLOAD_ID"], token_endpoint_auth_method="none")
federated = workload.fetch_token(endpoint, grant_type=JWT_BEARER, assertion=env["PLATFORM_TOKEN"])
exchanged = workload.fetch_token(endpoint, grant_type=EXCHANGE, subject_token=env["PLATFORM_TOKEN"],
                                 subject_token_type=JWT)

print(json.dumps({
    "delegated": verify(delegated["access_token"]),
    "issued_token_type": delegated.get("issued_token_type"),
    "federated": verify(federated["access_token"]),
    "exchanged": verify(exchanged["access_token"]),
    "tokens": [delegated["access_token"], federated["access_token"]],
    "widened": refusal(gateway, grant_type=EXCHANGE, subject_token=env["SUBJECT_TOKEN"],
                       subject_token_type=ACCESS, scope="write:invoices/42"),
    "junk_subject": refusal(gateway, grant_type=EXCHANGE, subject_token="junk",
                            subject_token_type=ACCESS),
    "stranger": refusal(workload, grant_type=JWT_BEARER, assertion=env["STRANGER_TOKEN"]),
    "stranger_exchanged": refusal(workload, grant_type=EXCHANGE, subject_token=env["STRANGER_TOKEN"],
                                  subject_token_type=JWT),
}))
