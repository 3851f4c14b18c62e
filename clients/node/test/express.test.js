// requiresFeature() on a plain node:http server (no Express installed): what each caller gets.

import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import { after, before, test } from "node:test";

import { TokenVerifier, bearerToken, requiresFeature } from "../index.js";
import { AUDIENCE, ISSUER, claims, fakeFetch, makeKey, manualClock, token } from "./helpers.js";

const key = makeKey();
const clock = manualClock();
const fetch = fakeFetch({ keys: [key.jwk] });
const verifier = new TokenVerifier({
  jwksUrl: "https://entitlements.magazine.test/.well-known/jwks.json",
  issuer: ISSUER,
  audience: AUDIENCE,
  clock,
  fetch,
});

let server;
let base;
const routes = {
  // The default: the Authorization bearer token.
  "/comments": requiresFeature("comment", { verifier }),
  // A site keeping the token in a cookie.
  "/archive": requiresFeature("archive", {
    verifier,
    getToken: (req) => /(?:^|; )ent=([^;]+)/.exec(req.headers.cookie ?? "")?.[1],
  }),
  "/broken": requiresFeature("comment", {
    verifier,
    getToken: () => {
      throw new Error("the session store is down");
    },
  }),
};

before(async () => {
  server = createServer((req, res) => {
    const gate = routes[req.url];
    gate(req, res, (error) => {
      res.statusCode = error ? 500 : 200;
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify(error ? { error: error.message } : {
        account: req.entitlements.accountId,
        features: req.entitlements.features,
      }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(() => new Promise((resolve) => server.close(resolve)));

function get(path, headers = {}) {
  return new Promise((resolve, reject) => {
    request(`${base}${path}`, { headers }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => resolve({
        status: res.statusCode,
        headers: res.headers,
        body: JSON.parse(Buffer.concat(chunks).toString() || "null"),
      }));
    }).on("error", reject).end();
  });
}

const bearer = (t) => ({ authorization: `Bearer ${t}` });

test("a token granting the feature passes, with the entitlements on req", async () => {
  const answer = await get("/comments", bearer(token(key)));
  assert.equal(answer.status, 200);
  assert.deepEqual(answer.body, { account: "reader-1", features: ["comment", "ad_free"] });
});

test("no token: 401 with WWW-Authenticate", async () => {
  for (const headers of [{}, { authorization: "Basic abc" }, { authorization: "Bearer" }]) {
    const answer = await get("/comments", headers);
    assert.equal(answer.status, 401);
    assert.equal(answer.headers["www-authenticate"], "Bearer");
    assert.equal(answer.headers["content-type"], "application/problem+json");
    assert.equal(answer.body.code, "missing_token");
  }
});

test("a refused token: 401 naming the failure", async () => {
  const expired = token(key, claims({ exp: clock.now - 5 }));
  const answer = await get("/comments", bearer(expired));
  assert.equal(answer.status, 401);
  assert.equal(answer.body.code, "expired");
  assert.match(answer.headers["www-authenticate"], /invalid_token/);
  const forged = token(makeKey(key.kid));
  assert.equal((await get("/comments", bearer(forged))).body.code, "bad_signature");
});

test("a valid token without the feature: 403", async () => {
  const answer = await get("/comments", bearer(token(key, claims({ features: ["ad_free"] }))));
  assert.equal(answer.status, 403);
  assert.deepEqual(answer.body, {
    type: "about:blank",
    title: "Forbidden",
    status: 403,
    detail: 'the account lacks "comment"',
    code: "no_feature",
  });
});

test("a custom getToken (a cookie)", async () => {
  const archive = token(key, claims({ features: ["archive"] }));
  assert.equal((await get("/archive", { cookie: `a=1; ent=${archive}` })).status, 200);
  assert.equal((await get("/archive", bearer(archive))).status, 401);
  assert.equal((await get("/archive", { cookie: `ent=${token(key)}` })).status, 403);
});

test("an unexpected error goes to next(error)", async () => {
  const answer = await get("/broken", bearer(token(key)));
  assert.equal(answer.status, 500);
  assert.equal(answer.body.error, "the session store is down");
});

test("no JWKS at all: 503, not a 401 that would log the reader out", async () => {
  const lonely = new TokenVerifier({
    jwksUrl: "https://entitlements.magazine.test/.well-known/jwks.json",
    issuer: ISSUER,
    audience: AUDIENCE,
    clock,
    fetch: Object.assign(fakeFetch({ keys: [] }), { failing: true }),
  });
  const gate = requiresFeature("comment", { verifier: lonely });
  const res = { headers: {}, setHeader(n, v) { this.headers[n] = v; }, end(body) { this.body = body; } };
  let nextCalled = false;
  await gate({ headers: bearer(token(key)) }, res, () => { nextCalled = true; });
  assert.equal(nextCalled, false);
  assert.equal(res.statusCode, 503);
  assert.equal(JSON.parse(res.body).code, "jwks_unavailable");
});

test("bearerToken reads the Authorization header only", () => {
  assert.equal(bearerToken({ headers: { authorization: "bearer abc.def.ghi" } }), "abc.def.ghi");
  assert.equal(bearerToken({ headers: { authorization: "Bearer a b" } }), null);
  assert.equal(bearerToken({ headers: {} }), null);
  assert.throws(() => requiresFeature("comment", {}), TypeError);
  assert.throws(() => requiresFeature("", { verifier }), TypeError);
});
