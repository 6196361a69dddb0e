// A real OpenID provider for keymint's sign-in tests: node-oidc-provider with its
// own development login and consent pages. Started by tests/api/helpers/idp.rs.
//
// It listens on IDP_HOST (default 127.0.0.2: another site than keymint's
// 127.0.0.1, so the browser applies SameSite rules) and prints "listening
// <issuer>". Then each line on stdin is a JSON object:
//   {"clients": [{client_id, client_secret, redirect_uris}], "accounts": {...}}
// the first one with clients starts the provider; a later "accounts" (account
// id -> {email, email_verified, name, groups}) replaces what the accounts say,
// as an IdP admin would. Each line is answered "ok".
import http from 'node:http';
import readline from 'node:readline';
import Provider from 'oidc-provider';

const host = process.env.IDP_HOST || '127.0.0.2';
let accounts = {};

const server = http.createServer((req, res) => {
  res.statusCode = 503;
  res.end('not configured yet');
});
server.listen(0, host, () => {
  const issuer = `http://${host}:${server.address().port}`;
  console.log(`listening ${issuer}`);
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    const config = JSON.parse(line);
    if (config.accounts) accounts = config.accounts;
    if (config.clients) start(issuer, config.clients);
    console.log('ok');
  });
});

function start(issuer, clients) {
  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    // The claims of the requested scopes go into the ID token itself, as the
    // providers keymint documents are set up to do.
    conformIdTokenClaims: false,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'groups'],
    },
    async findAccount(ctx, id) {
      const account = accounts[id];
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: id, ...account };
        },
      };
    },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['keymint-test-idp-cookie-key'] },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  server.removeAllListeners('request');
  server.on('request', provider.callback());
}
