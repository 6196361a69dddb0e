// Verifies tokens with jose against keymint's remote JWKS, as a Node resource
// server would; prints their payloads as a JSON array. Run by the Rust suite
// (tests/api/exchange_clients.rs). Reads KEYMINT_ISSUER, API_AUDIENCE and
// TOKENS (a JSON array).
import { createRemoteJWKSet, jwtVerify } from 'jose';

const issuer = process.env.KEYMINT_ISSUER;
const metadata = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));
const payloads = [];
for (const token of JSON.parse(process.env.TOKENS)) {
  const { payload } = await jwtVerify(token, jwks, {
    issuer, audience: process.env.API_AUDIENCE, typ: 'at+jwt',
  });
  payloads.push(payload);
}
console.log(JSON.stringify(payloads));
