// Regressions for the red-team findings on the Node SDK (4, 7, 9, 10, 11, 12 of
// /tmp/notes/REDTEAM_SDK.md): each case gives the answer the Python SDK gives.

import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, sign } from "node:crypto";
import { createServer } from "node:http";
import { describe, test } from "node:test";

import {
  BadAudience,
  BadIssuer,
  BadSignature,
  EventMalformed,
  EventReceiver,
  EventSignatureError,
  EventVerifier,
  JwksUnavailable,
  MalformedToken,
  TokenExpired,
  TokenNotYetValid,
  TokenTooLarge,
  TokenVerifier,
  UnknownKey,
} from "../index.js";
import { maxAgeOf } from "../src/jwks.js";
import { AUDIENCE, ISSUER, NOW, claims, fakeFetch, makeKey, manualClock, token } from "./helpers.js";

const JWKS_URL = "https://entitlements.magazine.test/.well-known/jwks.json";
const key = makeKey("k1");
const b64 = (text) => Buffer.from(text).toString("base64url");

/** A token whose header and claims are signed exactly as written (duplicates, BOMs, ...). */
function raw(headerText, claimsText, signer = key) {
  const input = `${b64(headerText)}.${b64(claimsText)}`;
  const signature = sign("sha256", Buffer.from(input), { key: signer.privateKey, dsaEncoding: "ieee-p1363" });
  return `${input}.${signature.toString("base64url")}`;
}
const HEADER = JSON.stringify({ alg: "ES256", kid: "k1", typ: "entitlements+jwt" });
const CLAIMS = JSON.stringify(claims());

function verifier({ keys = [key.jwk], fetch = fakeFetch({ keys }), clock = manualClock(), ...options } = {}) {
  return new TokenVerifier({ jwksUrl: JWKS_URL, issuer: ISSUER, audience: AUDIENCE, clock, fetch, ...options });
}

async function refused(promise, ErrorClass) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof ErrorClass, `${error.name} (${error.code}): ${error.message}`);
    return true;
  });
}

describe("finding 4: a stale cache never makes a known kid wait for the JWKS", () => {
  test("known kid: cached key at once, one background refresh; unknown kid waits for it", async () => {
    const clock = manualClock();
    let calls = 0;
    let release;
    const hanging = new Promise((resolve) => {
      release = resolve;
    });
    const fetch = async () => {
      calls += 1;
      if (calls > 1) await hanging; // the JWKS hangs after the first answer
      return new Response(JSON.stringify({ keys: [key.jwk] }), { headers: { "cache-control": "max-age=300" } });
    };
    const v = verifier({ fetch, clock });
    await v.verify(token(key));
    clock.advance(301);
    const fresh = () => token(key, claims({ iat: NOW + 301, exp: NOW + 900 }));
    const started = Date.now();
    await Promise.all(Array.from({ length: 20 }, () => v.verify(fresh())));
    assert.ok(Date.now() - started < 1000, "known-kid verifications waited for the JWKS");
    assert.equal(calls, 2, "one background refresh, not one per verification");
    let unknownDone = false;
    const unknown = v.verify(token(makeKey("rotated"), claims({ iat: NOW + 301, exp: NOW + 900 })))
      .catch((error) => error)
      .finally(() => {
        unknownDone = true;
      });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(unknownDone, false, "an unknown kid awaits the refresh in flight");
    release();
    assert.ok((await unknown) instanceof UnknownKey);
    assert.equal(calls, 2, "the unknown kid shared the refresh in flight");
  });
});

/** A local server answering with `size` bytes of JSON, with or without Content-Length. */
async function bigServer(size, { contentLength }) {
  const state = { sent: 0 };
  const server = createServer((req, res) => {
    const head = JSON.stringify({ keys: [key.jwk], pad: "" }).slice(0, -2); // ...,"pad":"
    const headers = { "content-type": "application/json" };
    if (contentLength) headers["content-length"] = String(size);
    res.writeHead(200, headers);
    res.write(head);
    state.sent = head.length;
    const chunk = "z".repeat(64 * 1024);
    const pump = () => {
      while (state.sent < size - 2) {
        const part = chunk.slice(0, Math.min(chunk.length, size - 2 - state.sent));
        state.sent += part.length;
        if (!res.write(part)) return res.once("drain", pump);
      }
      res.end('"}');
    };
    res.on("error", () => {});
    req.socket.on("error", () => {});
    pump();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${server.address().port}/jwks.json`;
  state.close = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(resolve);
  });
  return state;
}

describe("finding 7: the JWKS body is capped at 1 MiB while it is read", () => {
  test("a 300 KiB JWKS is fine (the Python SDK's 1 MiB, not 256 KiB)", async () => {
    const server = await bigServer(300 * 1024, { contentLength: true });
    try {
      const v = new TokenVerifier({ jwksUrl: server.url, issuer: ISSUER, audience: AUDIENCE, clock: manualClock() });
      assert.ok(await v.verify(token(key)));
    } finally {
      await server.close();
    }
  });

  for (const contentLength of [true, false]) {
    test(`a 50 MiB JWKS ${contentLength ? "with" : "without"} Content-Length is refused without reading it`, async () => {
      const server = await bigServer(50 * 1024 * 1024, { contentLength });
      try {
        const v = new TokenVerifier({ jwksUrl: server.url, issuer: ISSUER, audience: AUDIENCE, clock: manualClock() });
        await assert.rejects(v.verify(token(key)), (error) => {
          assert.ok(error instanceof JwksUnavailable);
          assert.match(String(error.cause?.message), /too large/);
          return true;
        });
        assert.ok(server.sent < 8 * 1024 * 1024, `the server wrote ${server.sent} bytes`);
      } finally {
        await server.close();
      }
    });
  }
});

describe("finding 9: validly signed but odd tokens are malformed", () => {
  test("duplicate members in the header or claims, at any depth", async () => {
    const v = verifier();
    const cases = [
      ['{"alg":"HS256","alg":"ES256","kid":"k1","typ":"entitlements+jwt"}', CLAIMS],
      ['{"alg":"ES256","kid":"zz","kid":"k1","typ":"entitlements+jwt"}', CLAIMS],
      [HEADER, `${CLAIMS.slice(0, -1)},"sub":"admin"}`],
      [HEADER, `${CLAIMS.slice(0, -1)},"x":{"a":1,"a":2}}`],
    ];
    for (const [header, payload] of cases) await refused(v.verify(raw(header, payload)), MalformedToken);
  });

  test("exp, iat, nbf: integers within 0 .. 2^53 only", async () => {
    const v = verifier();
    const withExp = (text) => raw(HEADER, CLAIMS.replace(`"exp":${NOW + 300}`, `"exp":${text}`));
    const bads = ["1e400", "-1e400", "1e20", String(2 ** 53), "9223372036854775808", "-1", `${NOW + 300}.5`];
    for (const bad of [...bads, '"1800000300"', "null", "true"]) {
      await refused(v.verify(withExp(bad)), MalformedToken);
    }
    // An integral float is an integer (Python reads 1800000300.0 as a float with no fraction).
    assert.equal((await v.verify(withExp(`${NOW + 300}.0`))).expiresAt.getTime(), (NOW + 300) * 1000);
    for (const iat of [-(10 ** 15), NOW + 0.5, "null"]) {
      await refused(v.verify(raw(HEADER, CLAIMS.replace(`"iat":${NOW}`, `"iat":${iat}`))), MalformedToken);
    }
    for (const nbf of [null, NOW + 0.3, -1, "now"]) {
      await refused(v.verify(token(key, claims({ nbf }))), MalformedToken);
    }
  });

  test("empty sub or jti", async () => {
    await refused(verifier().verify(token(key, claims({ sub: "" }))), MalformedToken);
    await refused(verifier().verify(token(key, claims({ jti: "" }))), MalformedToken);
  });

  test("a byte order mark or invalid UTF-8", async () => {
    const v = verifier();
    await refused(v.verify(raw(HEADER, `\ufeff${CLAIMS}`)), MalformedToken);
    await refused(v.verify(raw(`\ufeff${HEADER}`, CLAIMS)), MalformedToken);
    // A lone surrogate escape is no invalid UTF-8: kept, as by Python (which counts it 3 bytes).
    assert.ok(await v.verify(raw(HEADER, JSON.stringify(claims({ sub: "\ud800" })))));
    const badUtf8 = Buffer.concat([
      Buffer.from('{"alg":"ES256","kid":"k'), Buffer.from([0xff]), Buffer.from('","typ":"entitlements+jwt"}'),
    ]);
    const input = `${badUtf8.toString("base64url")}.${b64(CLAIMS)}`;
    const signature = sign("sha256", Buffer.from(input), { key: key.privateKey, dsaEncoding: "ieee-p1363" });
    await refused(v.verify(`${input}.${signature.toString("base64url")}`), MalformedToken);
  });

  test("kid length counts UTF-8 bytes: 32 four-byte characters pass, 33 do not", async () => {
    const astral = makeKey("\u{1F511}".repeat(32));
    assert.ok(await verifier({ keys: [astral.jwk] }).verify(token(astral)));
    const over = makeKey("\u{1F511}".repeat(33));
    const fetch = fakeFetch({ keys: [over.jwk] });
    await refused(verifier({ fetch }).verify(token(over)), UnknownKey);
    assert.equal(fetch.calls, 0, "a kid over 128 bytes caused a fetch");
  });

  test("a fractional clock against whole-second nbf and exp (jose floors, we do not)", async () => {
    const clock = manualClock(NOW + 0.5);
    const v = verifier({ clock, clockSkew: 0 });
    await refused(v.verify(token(key, claims({ nbf: NOW + 1 }))), TokenNotYetValid);
    clock.advance(0.5);
    assert.ok(await v.verify(token(key, claims({ nbf: NOW + 1 }))));
    const late = verifier({ clock: manualClock(NOW + 299.5) });
    assert.ok(await late.verify(token(key)));
    await refused(verifier({ clock: manualClock(NOW + 300) }).verify(token(key)), TokenExpired);
  });
});

describe("finding 10: which JWKS entries count", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" });
  const y = Buffer.from(key.jwk.y, "base64url");
  y[31] ^= 1; // off the curve: for this x only y and p - y lie on it
  const offCurve = { ...key.jwk, y: y.toString("base64url") };

  test("unusable entries are skipped before duplicates; the first usable kid wins", async () => {
    const rsaUnderKid = { ...rsa, kid: "k1", alg: "ES256" };
    for (const keys of [[rsaUnderKid, key.jwk], [offCurve, key.jwk], [{ ...key.jwk, use: "enc" }, key.jwk]]) {
      assert.ok(await verifier({ keys }).verify(token(key)));
    }
    // Usable duplicates: the first one is the key.
    const other = makeKey("k1");
    assert.ok(await verifier({ keys: [key.jwk, other.jwk] }).verify(token(key)));
    await refused(verifier({ keys: [other.jwk, key.jwk] }).verify(token(key)), BadSignature);
  });

  test("a published key with private members is never used", async () => {
    const { privateKey } = key;
    const d = privateKey.export({ format: "jwk" }).d;
    await refused(verifier({ keys: [{ ...key.jwk, d }] }).verify(token(key)), UnknownKey);
  });

  test("only the first 100 entries are read", async () => {
    const filler = Array.from({ length: 100 }, (_, n) => ({ ...makeKey(`f${n}`).jwk }));
    await refused(verifier({ keys: [...filler, key.jwk] }).verify(token(key)), UnknownKey);
    assert.ok(await verifier({ keys: [...filler.slice(1), key.jwk] }).verify(token(key)));
  });

  test("a JWKS with a duplicate member is no JWKS", async () => {
    const body = `${JSON.stringify({ keys: [key.jwk] }).slice(0, -2)},"x":"AAAA"}]}`;
    const fetch = async () => new Response(body, { headers: { "cache-control": "max-age=300" } });
    await refused(verifier({ fetch }).verify(token(key)), JwksUnavailable);
  });
});

describe("finding 11: one order of checks, one max-age parser", () => {
  test("the first failing step names the error", async () => {
    const v = verifier();
    const { jti, ...noJti } = claims({ iss: "https://evil.test" });
    const { sub, ...noSub } = claims({ aud: "ads" });
    await refused(v.verify(token(key, claims({ exp: NOW - 10, nbf: NOW + 1000 }))), TokenExpired);
    await refused(v.verify(token(key, noJti)), MalformedToken);
    await refused(v.verify(token(key, noSub)), MalformedToken);
    await refused(v.verify(token(key, claims({ iss: 5 }))), MalformedToken);
    await refused(v.verify(token(key, claims({ aud: [AUDIENCE, 5] }))), MalformedToken);
    await refused(v.verify(token(key, claims({ iss: "https://evil.test", aud: "ads", exp: NOW - 10 }))), BadIssuer);
    await refused(v.verify(token(key, claims({ aud: "ads", exp: NOW - 10 }))), BadAudience);
    // A key of the wrong type under the kid: no usable key.
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" });
    await refused(verifier({ keys: [{ ...rsa, kid: "k1", alg: "ES256" }] }).verify(token(key)), UnknownKey);
    // 8192 characters but more bytes: too large, before parsing.
    const good = token(key);
    await refused(v.verify(good + "\u00e9".repeat(8192 - good.length)), TokenTooLarge);
  });

  test("max-age: exactly max-age=<digits>, else ignored", () => {
    const cases = {
      "max-age=100": 100, "MAX-AGE=100": 100, " public , max-age=100 ": 100, "max-age=0": 60,
      "max-age=99999999999999999999": 86400, "max-age = 100": 300, 'max-age="100"': 300,
      "max-age=100abc": 300, "max-age=-5": 300, "max-age=abc, max-age=200": 200,
      "max-age=100, max-age=5000": 100, "no-cache, max-age=3600": 60, 'no-cache="x"': 60,
      "s-maxage=10": 300, 'private="x,max-age=5000"': 300, "": 300,
    };
    for (const [value, expected] of Object.entries(cases)) assert.equal(maxAgeOf(value), expected, value);
  });
});

describe("finding 12: events are signed and compared as the reference libraries do", () => {
  const secretKey = Buffer.from("k".repeat(24));
  const secret = `whsec_${secretKey.toString("base64")}`;
  const body = '{"type":"entitlements.changed","data":{"account_id":"a1","not_before":1800000000}}';
  const mac = (id, ts, text = body) => createHmac("sha256", secretKey).update(`${id}.${ts}.${text}`).digest("base64");
  const headers = (ts, signature) => ({ "webhook-id": "msg_1", "webhook-timestamp": ts, "webhook-signature": signature });
  const events = new EventVerifier(secret, { clock: () => NOW });

  test("the HMAC covers the timestamp as a number", () => {
    assert.ok(events.verify(body, headers(`0${NOW}`, `v1,${mac("msg_1", NOW)}`)));
    assert.throws(() => events.verify(body, headers(`0${NOW}`, `v1,${mac("msg_1", `0${NOW}`)}`)), EventSignatureError);
    for (const ts of ["\u00b2", "9".repeat(16), "12x", ""]) {
      assert.throws(() => events.verify(body, headers(ts, `v1,${mac("msg_1", ts)}`)), EventMalformed, ts);
    }
  });

  test("signatures are compared as exact base64 text", () => {
    const good = mac("msg_1", NOW);
    const urlSafe = good.replaceAll("+", "-").replaceAll("/", "_");
    for (const variant of [good.replace(/=+$/, ""), urlSafe, `${good}!!`, `${good}=`]) {
      if (variant === good) continue; // no + or / in this digest
      assert.throws(() => events.verify(body, headers(String(NOW), `v1,${variant}`)), EventSignatureError, variant);
    }
    assert.ok(events.verify(body, headers(String(NOW), `v1,AAAA  v1,${good}`)));
  });

  test("a secret that is not strict base64 fails at construction", () => {
    for (const bad of ["whsec_not base64!!", "whsec_a", "whsec_ab=c", "whsec_", "whsec_-_-_"]) {
      assert.throws(() => new EventVerifier(bad), TypeError, bad);
    }
    assert.ok(new EventVerifier(secret.slice(6)));
    assert.ok(new EventVerifier(secret.replace(/=+$/, ""))); // padding is optional, as in Python
  });

  test("not_before must be a finite number >= 0", async () => {
    const v = verifier();
    const receiver = new EventReceiver({ secret, verifier: v, clock: () => NOW });
    for (const notBefore of ["1e400", "-5", '"1800000000"']) {
      const text = body.replace("1800000000", notBefore);
      await assert.rejects(receiver.receive(text, headers(String(NOW), `v1,${mac("msg_1", NOW, text)}`)), EventMalformed);
    }
    assert.throws(() => v.revoke("a1", Number.NaN), RangeError);
    assert.throws(() => v.revoke("a1", -1), RangeError);
    assert.throws(() => v.revoke("a1", new Date(Number.NaN)), RangeError);
    assert.throws(() => v.revoke("a1", "1800000000"), TypeError);
  });
});
