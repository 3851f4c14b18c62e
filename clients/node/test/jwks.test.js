// JWKS caching, on an injected clock and fetch: Cache-Control, unknown kids, outages.

import assert from "node:assert/strict";
import { test } from "node:test";

import { JwksUnavailable, TokenVerifier, UnknownKey } from "../index.js";
import { maxAgeOf } from "../src/jwks.js";
import { AUDIENCE, ISSUER, claims, fakeFetch, makeKey, manualClock, token } from "./helpers.js";

function setup(keys, cacheControl) {
  const clock = manualClock();
  const fetch = fakeFetch({ keys: keys.map((k) => k.jwk) }, cacheControl);
  const verifier = new TokenVerifier({
    jwksUrl: "https://entitlements.magazine.test/.well-known/jwks.json",
    issuer: ISSUER,
    audience: AUDIENCE,
    clock,
    fetch,
  });
  // Tokens minted at the clock's current time, so a test may move the clock freely.
  const mint = (key) => token(key, claims({ iat: Math.floor(clock.now), exp: clock.now + 300 }));
  return { clock, fetch, verifier, mint };
}

test("a flood of unknown kids makes at most one fetch per 60 s", async () => {
  const key = makeKey();
  const { clock, fetch, verifier, mint } = setup([key]);
  const stranger = makeKey();
  const unknown = (kid) => ({ ...stranger, kid });
  await verifier.verify(mint(key));
  assert.equal(fetch.calls, 1);
  for (let second = 0; second < 60; second += 1) {
    for (let n = 0; n < 20; n += 1) {
      await assert.rejects(verifier.verify(mint(unknown(`bad-${second}-${n}`))), UnknownKey);
    }
    if (second < 59) clock.advance(1);
  }
  assert.equal(fetch.calls, 1, "unknown kids within the first minute fetched");
  clock.advance(1); // 60 s after the first fetch
  const flood = Array.from({ length: 200 }, (_, n) => verifier.verify(mint(unknown(`x${n}`))));
  for (const result of await Promise.allSettled(flood)) {
    assert.ok(result.reason instanceof UnknownKey);
  }
  assert.equal(fetch.calls, 2, "concurrent unknown kids shared one refetch");
  await verifier.verify(mint(key)); // the known key still works meanwhile
  assert.equal(fetch.calls, 2);
});

test("a key rotated in is found by the refetch of an unknown kid", async () => {
  const old = makeKey("old");
  const rotated = makeKey("new");
  const { clock, fetch, verifier, mint } = setup([old]);
  await verifier.verify(mint(old));
  fetch.jwks = { keys: [old.jwk, rotated.jwk] };
  clock.advance(30);
  await assert.rejects(verifier.verify(mint(rotated)), UnknownKey); // within the minute
  clock.advance(30);
  const result = await verifier.verify(mint(rotated));
  assert.equal(result.accountId, "reader-1");
  assert.equal(fetch.calls, 2);
});

test("concurrent first verifications share one fetch", async () => {
  const key = makeKey();
  const { fetch, verifier, mint } = setup([key]);
  await Promise.all(Array.from({ length: 50 }, () => verifier.verify(mint(key))));
  assert.equal(fetch.calls, 1);
});

test("Cache-Control max-age sets the refresh time", async () => {
  const key = makeKey();
  const { clock, fetch, verifier, mint } = setup([key], "public, max-age=120");
  await verifier.verify(mint(key));
  clock.advance(119);
  await verifier.verify(mint(key));
  assert.equal(fetch.calls, 1);
  clock.advance(1);
  await verifier.verify(mint(key));
  assert.equal(fetch.calls, 2);
});

test("a key removed from the JWKS stops verifying after the (background) refresh", async () => {
  const gone = makeKey("gone");
  const kept = makeKey("kept");
  const { clock, fetch, verifier, mint } = setup([gone, kept], "max-age=300");
  await verifier.verify(mint(gone));
  fetch.jwks = { keys: [kept.jwk] };
  clock.advance(300);
  // Stale, known kid: answered from the cache while the refresh runs.
  await verifier.verify(mint(gone));
  await verifier.keys.pending;
  await assert.rejects(verifier.verify(mint(gone)), UnknownKey);
  await verifier.verify(mint(kept));
  assert.equal(fetch.calls, 2);
});

test("max-age is bounded to 60 s .. 1 day; no-store means 60 s", () => {
  assert.equal(maxAgeOf("public, max-age=300"), 300);
  assert.equal(maxAgeOf("max-age=0"), 60);
  assert.equal(maxAgeOf("max-age=5"), 60);
  assert.equal(maxAgeOf("max-age=9999999"), 86400);
  assert.equal(maxAgeOf("no-store"), 60);
  assert.equal(maxAgeOf("private, no-cache"), 60);
  assert.equal(maxAgeOf(null), 300);
  assert.equal(maxAgeOf("max-age=nonsense"), 300);
});

test("a short max-age still refetches at most once a minute", async () => {
  const key = makeKey();
  const { clock, fetch, verifier, mint } = setup([key], "max-age=1");
  await verifier.verify(mint(key));
  clock.advance(59);
  await verifier.verify(mint(key));
  assert.equal(fetch.calls, 1);
  clock.advance(1);
  await verifier.verify(mint(key));
  assert.equal(fetch.calls, 2);
});

test("a JWKS outage keeps the cached keys, retrying once a minute", async () => {
  const key = makeKey();
  const { clock, fetch, verifier, mint } = setup([key], "max-age=60");
  await verifier.verify(mint(key));
  fetch.failing = true;
  clock.advance(600); // long stale
  for (let n = 0; n < 100; n += 1) await verifier.verify(mint(key));
  await assert.rejects(verifier.verify(mint(makeKey("unknown"))), UnknownKey);
  assert.equal(fetch.calls, 2, "one failed attempt, then a pause");
  clock.advance(60);
  await verifier.verify(mint(key));
  assert.equal(fetch.calls, 3);
  fetch.failing = false;
  clock.advance(60);
  await verifier.verify(mint(key));
  assert.equal(fetch.calls, 4);
});

test("no key ever fetched: JwksUnavailable, retried after a few seconds", async () => {
  const key = makeKey();
  const { clock, fetch, verifier, mint } = setup([key]);
  fetch.failing = true;
  await assert.rejects(verifier.verify(mint(key)), (error) => {
    assert.ok(error instanceof JwksUnavailable);
    assert.equal(error.code, "jwks_unavailable");
    return true;
  });
  await assert.rejects(verifier.verify(mint(key)), JwksUnavailable);
  assert.equal(fetch.calls, 1);
  fetch.failing = false;
  clock.advance(5);
  assert.ok(await verifier.verify(mint(key)));
  assert.equal(fetch.calls, 2);
});

test("a JWKS that is not a JWK Set counts as an outage", async () => {
  const key = makeKey();
  const { clock, fetch, verifier, mint } = setup([key], "max-age=60");
  await verifier.verify(mint(key));
  fetch.jwks = { not: "keys" };
  clock.advance(60);
  assert.ok(await verifier.verify(mint(key)));
  assert.equal(fetch.calls, 2);
});
