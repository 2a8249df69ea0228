// A relying party built on openid-client (a certified OpenID Connect client), driven by test_oidc_clients.py:
// discovery, the authorization code flow with PKCE and private_key_jwt, and userinfo. It prints the
// authorization URL, reads the callback URL the person's browser was sent to, and prints what it learnt.
import * as client from "openid-client";
import { createInterface } from "node:readline";

const [issuer, clientId, redirectUri] = process.argv.slice(2);
const jwk = JSON.parse(process.env.OIDC_RP_PRIVATE_JWK);
const algorithm = jwk.kty === "EC"
  ? { name: "ECDSA", namedCurve: "P-256" }
  : { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
const key = await crypto.subtle.importKey("jwk", jwk, algorithm, false, ["sign"]);

const config = await client.discovery(
  new URL(issuer),
  clientId,
  { redirect_uris: [redirectUri], token_endpoint_auth_method: "private_key_jwt" },
  client.PrivateKeyJwt({ key, kid: jwk.kid }),
  { execute: [client.allowInsecureRequests] }, // the local stack serves plain http on loopback
);
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: process.env.OIDC_RP_SCOPE || "openid",
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: "S256",
  state,
  nonce,
});
console.log(JSON.stringify({ authorization_url: url.href }));

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  try {
    const tokens = await client.authorizationCodeGrant(config, new URL(line.trim()), {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    console.log(JSON.stringify({ claims, userinfo, scope: tokens.scope, token_type: tokens.token_type }));
  } catch (error) {
    console.log(JSON.stringify({ error: String(error && error.code || error), message: String(error && error.message) }));
  }
  break;
}
