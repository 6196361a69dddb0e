// keymint through openid-client v6 (the most used Node OAuth client) and jose (its
// JOSE library): discovery, both client authentication methods, a wrong secret,
// scope and resource narrowing, and verification against the remote JWKS.
//
// Reads KEYMINT_ISSUER, KEYMINT_ADMIN_ID and KEYMINT_ADMIN_SECRET (a platform admin).

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as jose from 'jose';

const issuer = process.env.KEYMINT_ISSUER;
const admin = { id: process.env.KEYMINT_ADMIN_ID, secret: process.env.KEYMINT_ADMIN_SECRET };
let key; // { client_id, client_secret }

async function discover(id, auth) {
  return client.discovery(new URL(issuer), id, undefined, auth, {
    execute: [client.allowInsecureRequests],
  });
}

before(async () => {
  const config = await discover(admin.id, client.ClientSecretBasic(admin.secret));
  const { access_token } = await client.clientCredentialsGrant(config);
  const response = await fetch(`${issuer}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: `node-interop-${Date.now()}`,
      scopes: ['read:reports/**', 'write:prompts/welcome'],
      audiences: ['https://api.example.test', 'https://other.example.test'],
    }),
  });
  assert.equal(response.status, 201);
  key = await response.json();
});

test('discovery finds the token endpoint and the JWKS', async () => {
  const config = await discover(key.client_id, client.ClientSecretPost(key.client_secret));
  const metadata = config.serverMetadata();
  assert.equal(metadata.issuer, issuer);
  assert.equal(metadata.token_endpoint, `${issuer}/oauth/token`);
  assert.ok(metadata.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
  assert.ok(metadata.token_endpoint_auth_methods_supported.includes('client_secret_post'));
});

for (const [name, auth] of [
  ['client_secret_basic', client.ClientSecretBasic],
  ['client_secret_post', client.ClientSecretPost],
]) {
  test(`${name} gets a token that verifies against the remote JWKS`, async () => {
    const config = await discover(key.client_id, auth(key.client_secret));
    const tokens = await client.clientCredentialsGrant(config);
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.equal(tokens.expires_in, 600);
    const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
    const { payload, protectedHeader } = await jose.jwtVerify(tokens.access_token, jwks, {
      issuer,
      audience: 'https://api.example.test',
      typ: 'at+jwt',
    });
    assert.equal(payload.client_id, key.client_id);
    assert.equal(payload.sub, key.client_id);
    assert.ok(protectedHeader.kid);
  });

  test(`${name} with a wrong secret is reported as invalid_client`, async () => {
    const wrong = key.client_secret.slice(0, -1) + (key.client_secret.endsWith('a') ? 'b' : 'a');
    const config = await discover(key.client_id, auth(wrong));
    const err = await client.clientCredentialsGrant(config).then(
      () => assert.fail('a wrong secret got a token'),
      (e) => e,
    );
    if (name === 'client_secret_post') {
      // Authenticated in the body: no challenge, so the library reports the error.
      assert.ok(err instanceof client.ResponseBodyError, `${err.name}: ${err.message}`);
      assert.equal(err.error, 'invalid_client');
      assert.equal(err.status, 401);
    } else {
      // Basic: RFC 6749 section 5.2 requires the Basic challenge, which the library reports.
      assert.ok(err instanceof client.WWWAuthenticateChallengeError, `${err.name}: ${err.message}`);
      assert.equal(err.status, 401);
      assert.equal(err.cause[0].scheme, 'basic');
      assert.equal((await err.response.json()).error, 'invalid_client');
    }
  });
}

test('scope and resource narrow the token', async () => {
  const config = await discover(key.client_id, client.ClientSecretBasic(key.client_secret));
  const tokens = await client.clientCredentialsGrant(config, {
    scope: 'read:reports/2026',
    resource: 'https://other.example.test',
  });
  assert.equal(tokens.scope, 'read:reports/2026');
  const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
  const { payload } = await jose.jwtVerify(tokens.access_token, jwks, {
    issuer,
    audience: 'https://other.example.test',
  });
  assert.equal(payload.scope, 'read:reports/2026');
  assert.equal(payload.aud, 'https://other.example.test');
});

test('a scope or resource beyond the key is refused in RFC 6749 terms', async () => {
  const config = await discover(key.client_id, client.ClientSecretBasic(key.client_secret));
  await assert.rejects(client.clientCredentialsGrant(config, { scope: 'admin:reports/x' }), (err) => {
    assert.equal(err.error, 'invalid_scope');
    return true;
  });
  await assert.rejects(
    client.clientCredentialsGrant(config, { resource: 'https://elsewhere.example.test' }),
    (err) => {
      assert.equal(err.error, 'invalid_target');
      return true;
    },
  );
});

/** Creates a key through /v1 with the platform admin's token. */
async function createKey(body) {
  const config = await discover(admin.id, client.ClientSecretBasic(admin.secret));
  const { access_token } = await client.clientCredentialsGrant(config);
  const response = await fetch(`${issuer}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, name: `node-${body.name}-${Date.now()}` }),
  });
  assert.equal(response.status, 201, await response.clone().text());
  return response.json();
}

for (const alg of ['ES256', 'EdDSA', 'PS256']) {
  test(`PrivateKeyJwt (${alg}) authenticates without a secret`, async () => {
    const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
    const jwk = { ...(await jose.exportJWK(publicKey)), kid: `node-${alg}`, alg };
    const created = await createKey({ name: 'signer', scopes: ['read:reports/**'], jwks: { keys: [jwk] } });
    assert.equal(created.token_endpoint_auth_method, 'private_key_jwt');
    assert.equal(created.client_secret, undefined);
    const metadata = (await discover(created.client_id, client.None())).serverMetadata();
    assert.ok(metadata.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
    assert.ok(metadata.token_endpoint_auth_signing_alg_values_supported.includes(alg));

    const key = { key: privateKey, kid: jwk.kid };
    const config = await discover(created.client_id, client.PrivateKeyJwt(key));
    const tokens = await client.clientCredentialsGrant(config);
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
    const { payload } = await jose.jwtVerify(tokens.access_token, jwks, { issuer, typ: 'at+jwt' });
    assert.equal(payload.client_id, created.client_id);

    // A key of another client, under the same kid, is refused as invalid_client.
    const stranger = await jose.generateKeyPair(alg, { extractable: true });
    const forged = await discover(created.client_id, client.PrivateKeyJwt({ key: stranger.privateKey, kid: jwk.kid }));
    await assert.rejects(client.clientCredentialsGrant(forged), (err) => {
      assert.equal(err.error, 'invalid_client');
      return true;
    });
  });
}

test('DPoP binds the token to the client key, and keymint /v1 checks the proof', async () => {
  const metadata = (await discover(admin.id, client.None())).serverMetadata();
  assert.ok(metadata.dpop_signing_alg_values_supported.includes('ES256'));
  const config = await discover(admin.id, client.ClientSecretBasic(admin.secret));
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const DPoP = client.getDPoPHandle(config, keyPair);
  const tokens = await client.clientCredentialsGrant(config, {}, { DPoP });
  // oauth4webapi checks the response itself: a DPoP request must get token_type DPoP.
  assert.equal(tokens.token_type.toLowerCase(), 'dpop');
  const jkt = await jose.calculateJwkThumbprint(await jose.exportJWK(keyPair.publicKey));
  const { payload } = await jose.jwtVerify(tokens.access_token,
    jose.createRemoteJWKSet(new URL(metadata.jwks_uri)), { issuer, typ: 'at+jwt' });
  assert.equal(payload.cnf.jkt, jkt);

  // The management API takes the bound token with a fresh proof (ath, htm, htu)...
  const url = new URL(`${issuer}/v1/keys?limit=1`);
  const ok = await client.fetchProtectedResource(config, tokens.access_token, url, 'GET', undefined, undefined, { DPoP });
  assert.equal(ok.status, 200);
  // ...and not as a plain Bearer token.
  const bearer = await fetch(url, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(bearer.status, 401);
});
