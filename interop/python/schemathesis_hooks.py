"""Authentication for the schemathesis run: a fresh admin token every few seconds.

The run may revoke, deactivate, rotate or delete any key it finds, the admin key
whose token it uses included. When that key stops working, a new platform admin is
created with `keymint bootstrap` (same settings, from the environment), so every
operation keeps being exercised as an authenticated admin.
"""

import json
import os
import subprocess

import requests
import schemathesis

ISSUER = os.environ["KEYMINT_ISSUER"]


@schemathesis.auth(refresh_interval=5)
class AdminToken:
    def __init__(self):
        self.credentials = (os.environ["KEYMINT_ADMIN_ID"], os.environ["KEYMINT_ADMIN_SECRET"])

    def token(self):
        response = requests.post(
            f"{ISSUER}/oauth/token",
            auth=self.credentials,
            data={"grant_type": "client_credentials"},
            timeout=10,
        )
        return response.json()["access_token"] if response.status_code == 200 else None

    def get(self, case, context):
        token = self.token()
        if token is None:
            created = subprocess.run(
                [os.environ["KEYMINT_BIN"], "bootstrap", "--json"],
                check=True,
                capture_output=True,
                text=True,
            )
            admin = json.loads(created.stdout)
            self.credentials = (admin["client_id"], admin["client_secret"])
            token = self.token()
        return token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
