// Test keys, tokens and servers, all local: no test talks to the entitlements service.

import { createHmac, generateKeyPairSync, randomUUID, sign } from "node:crypto";
import { createServer } from "node:http";

export const ISSUER = "https://entitlements.magazine.test";
export const AUDIENCE = "site";
export const NOW = 1_800_000_000;

/** A P-256 key pair with its public JWK as the service publishes it. */
export function makeKey(kid = randomUUID()) {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...publicKey.export({ format: "jwk" }), kid, alg: "ES256", use: "sig" };
  const pem = publicKey.export({ type: "spki", format: "pem" });
  return { kid, privateKey, publicKey, jwk, pem };
}

const b64 = (value) =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/** The claims of a good token at NOW. */
export function claims(overrides = {}) {
  return {
    iss: ISSUER,
    sub: "reader-1",
    aud: AUDIENCE,
    iat: NOW,
    exp: NOW + 300,
    jti: randomUUID(),
    features: ["comment", "ad_free"],
    plan: "plus",
    ...overrides,
  };
}

/** Sign `payload` under any header we like, ES256 with `key` (or a raw alg via `signer`). */
export function token(key, payload = claims(), header = {}) {
  const fullHeader = { alg: "ES256", kid: key.kid, typ: "entitlements+jwt", ...header };
  const input = `${b64(fullHeader)}.${b64(payload)}`;
  const signature = sign("sha256", Buffer.from(input), {
    key: key.privateKey,
    dsaEncoding: "ieee-p1363",
  });
  return `${input}.${signature.toString("base64url")}`;
}

/** An HS256 token whose HMAC secret is `secret` (the public-key-as-secret attack). */
export function hs256(secret, payload, header) {
  const input = `${b64({ typ: "entitlements+jwt", ...header, alg: "HS256" })}.${b64(payload)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

/** An unsigned `alg: none` token. */
export function unsigned(payload, header) {
  return `${b64({ typ: "entitlements+jwt", ...header, alg: "none" })}.${b64(payload)}.`;
}

/** A local HTTP server answering every path with `body`, counting the requests it gets. */
export async function countingServer(body, headers = { "Cache-Control": "public, max-age=300" }) {
  const state = { hits: 0, body, headers, status: 200 };
  const server = createServer((req, res) => {
    state.hits += 1;
    res.writeHead(state.status, { "Content-Type": "application/json", ...state.headers });
    res.end(JSON.stringify(state.body));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${server.address().port}/.well-known/jwks.json`;
  state.close = () => new Promise((resolve) => server.close(resolve));
  return state;
}

/** A fetch stand-in serving a JWKS from memory: count calls, fail on demand. */
export function fakeFetch(jwks, cacheControl = "public, max-age=300") {
  const fake = async (url) => {
    fake.calls += 1;
    if (fake.failing) throw new TypeError("fetch failed");
    return new Response(JSON.stringify(fake.jwks), {
      status: 200,
      headers: { "content-type": "application/json", "cache-control": fake.cacheControl },
    });
  };
  Object.assign(fake, { calls: 0, failing: false, jwks, cacheControl });
  return fake;
}

/** A clock the test moves by hand. */
export function manualClock(start = NOW) {
  const clock = () => clock.now;
  clock.now = start;
  clock.advance = (seconds) => {
    clock.now += seconds;
  };
  return clock;
}
