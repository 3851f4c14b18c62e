// The forged-token catalogue of issue 11 part 7, plus the accepted cases around each rule.

import assert from "node:assert/strict";
import { generateKeyPairSync, sign } from "node:crypto";
import { after, before, describe, test } from "node:test";

import {
  BadAlgorithm,
  BadAudience,
  BadIssuer,
  BadSignature,
  BadType,
  CriticalHeader,
  ForbiddenHeader,
  MalformedToken,
  TokenExpired,
  TokenNotYetValid,
  TokenRevoked,
  TokenTooLarge,
  TokenVerifier,
  UnknownKey,
} from "../index.js";
import {
  AUDIENCE,
  ISSUER,
  NOW,
  claims,
  countingServer,
  hs256,
  makeKey,
  manualClock,
  token,
  unsigned,
} from "./helpers.js";

const key = makeKey();
const attackerKey = makeKey("attacker");
let jwks; // the service's JWKS, on a local server
let attacker; // where forged headers point: it must never be asked

before(async () => {
  jwks = await countingServer({ keys: [key.jwk] });
  attacker = await countingServer({ keys: [attackerKey.jwk] });
});
after(async () => {
  await jwks.close();
  await attacker.close();
});

function verifier(options = {}) {
  return new TokenVerifier({
    jwksUrl: jwks.url,
    issuer: ISSUER,
    audience: AUDIENCE,
    clock: manualClock(),
    ...options,
  });
}

/** Assert that `promise` rejects with `ErrorClass` and its code. */
async function refused(promise, ErrorClass) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof ErrorClass, `${error.name}: ${error.message}`);
    assert.equal(error.code, ErrorClass.code);
    return true;
  });
}

describe("a good token", () => {
  test("is accepted, with typed entitlements", async () => {
    const result = await verifier().verify(token(key));
    assert.equal(result.accountId, "reader-1");
    assert.deepEqual(result.features, ["comment", "ad_free"]);
    assert.equal(result.plan, "plus");
    assert.equal(result.expiresAt.getTime(), (NOW + 300) * 1000);
    assert.equal(result.issuedAt.getTime(), NOW * 1000);
    assert.equal(result.has("comment"), true);
    assert.equal(result.has("archive"), false);
  });

  test("with aud as a list containing ours is accepted", async () => {
    const result = await verifier().verify(token(key, claims({ aud: ["ads", AUDIENCE] })));
    assert.equal(result.accountId, "reader-1");
  });
});

describe("forged tokens are refused", () => {
  test("alg none", async () => {
    await refused(verifier().verify(unsigned(claims(), { kid: key.kid })), BadAlgorithm);
  });

  test("alg none, uppercase and empty signature variants", async () => {
    for (const alg of ["None", "NONE"]) {
      const forged = unsigned(claims(), { kid: key.kid }).replace(
        /^[^.]+/,
        Buffer.from(JSON.stringify({ alg, kid: key.kid, typ: "entitlements+jwt" })).toString("base64url"),
      );
      await refused(verifier().verify(forged), BadAlgorithm);
    }
  });

  test("HS256 signed with the public key as PEM", async () => {
    await refused(verifier().verify(hs256(key.pem, claims(), { kid: key.kid })), BadAlgorithm);
  });

  test("HS256 signed with the public key as JWK", async () => {
    for (const secret of [JSON.stringify(key.jwk), JSON.stringify({ ...key.jwk, kid: undefined })]) {
      await refused(verifier().verify(hs256(secret, claims(), { kid: key.kid })), BadAlgorithm);
    }
  });

  test("an algorithm the key does not declare (ES384 header on an ES256 key): no such key", async () => {
    const v = verifier({ algorithms: ["ES256", "ES384"] });
    await refused(v.verify(token(key, claims(), { alg: "ES384" })), UnknownKey);
  });

  test("unknown kid", async () => {
    await refused(verifier().verify(token(makeKey("not-published"))), UnknownKey);
  });

  test("path-like kid", async () => {
    const v = verifier();
    for (const kid of ["../../../etc/passwd", "/.well-known/jwks.json", "..%2f..%2fkeys", "a/../b"]) {
      await refused(v.verify(token(makeKey(kid))), UnknownKey);
    }
  });

  test("huge kid: refused before any fetch", async () => {
    const before = jwks.hits;
    await refused(verifier().verify(token(makeKey("k".repeat(129)))), UnknownKey);
    await refused(verifier().verify(token(makeKey("k".repeat(9000)))), TokenTooLarge);
    assert.equal(jwks.hits, before);
  });

  for (const name of ["jku", "x5u", "jwk", "x5c"]) {
    test(`${name} pointing elsewhere: refused, and no request is made`, async () => {
      const values = {
        jku: attacker.url,
        x5u: attacker.url,
        jwk: attackerKey.jwk,
        x5c: ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
      };
      const before = { ours: jwks.hits, theirs: attacker.hits };
      // Signed by the attacker's key, under the attacker's kid and under ours.
      for (const kid of [attackerKey.kid, key.kid]) {
        const forged = token(attackerKey, claims(), { kid, [name]: values[name] });
        await refused(verifier().verify(forged), ForbiddenHeader);
      }
      assert.equal(attacker.hits, before.theirs, "a request went to the attacker's server");
      assert.equal(jwks.hits, before.ours, "a forged header caused a JWKS fetch");
    });
  }

  test("missing exp", async () => {
    const { exp, ...noExp } = claims();
    await refused(verifier().verify(token(key, noExp)), MalformedToken);
  });

  test("exp 5 s past, unless the caller sets a leeway", async () => {
    const late = token(key, claims({ exp: NOW - 5 }));
    await refused(verifier().verify(late), TokenExpired);
    await refused(verifier().verify(token(key, claims({ exp: NOW }))), TokenExpired);
    const result = await verifier({ leeway: 10 }).verify(late);
    assert.equal(result.accountId, "reader-1");
  });

  test("nbf in the future (beyond 60 s of clock skew)", async () => {
    await refused(verifier().verify(token(key, claims({ nbf: NOW + 61 }))), TokenNotYetValid);
    await refused(verifier().verify(token(key, claims({ nbf: NOW + 3600 }))), TokenNotYetValid);
    // The exp leeway does not stretch the nbf bound; a smaller clockSkew narrows it.
    const v = verifier({ leeway: 60 });
    await refused(v.verify(token(key, claims({ nbf: NOW + 120 }))), TokenNotYetValid);
    const tight = verifier({ clockSkew: 0 });
    await refused(tight.verify(token(key, claims({ nbf: NOW + 1 }))), TokenNotYetValid);
    // Within the skew a clock a little behind the service's still accepts.
    assert.ok(await verifier().verify(token(key, claims({ nbf: NOW + 30, iat: NOW + 30 }))));
  });

  test("iat in the future (beyond 60 s)", async () => {
    await refused(verifier().verify(token(key, claims({ iat: NOW + 120 }))), TokenNotYetValid);
  });

  test("wrong issuer", async () => {
    await refused(verifier().verify(token(key, claims({ iss: "https://evil.test" }))), BadIssuer);
  });

  test("prefix-matching issuers", async () => {
    for (const iss of [`${ISSUER}.evil.test`, `${ISSUER}/`, ISSUER.slice(0, -1), `${ISSUER}#x`]) {
      await refused(verifier().verify(token(key, claims({ iss }))), BadIssuer);
    }
    // and a configured issuer that is a prefix of the token's
    const v = verifier({ issuer: "https://entitlements" });
    await refused(v.verify(token(key)), BadIssuer);
  });

  test("wrong audience", async () => {
    await refused(verifier().verify(token(key, claims({ aud: "ads" }))), BadAudience);
    await refused(verifier().verify(token(key, claims({ aud: ["ads", "archive"] }))), BadAudience);
    await refused(verifier().verify(token(key, claims({ aud: "sit" }))), BadAudience);
  });

  test("crit", async () => {
    for (const crit of [["exp"], ["b64"], ["x-unknown"], []]) {
      await refused(verifier().verify(token(key, claims(), { crit, "x-unknown": 1 })), CriticalHeader);
    }
  });

  test("tampered payload", async () => {
    const good = token(key, claims({ features: ["comment"] }));
    const [header, , signature] = good.split(".");
    const payload = Buffer.from(
      JSON.stringify(claims({ features: ["comment", "archive", "ad_free"] })),
    ).toString("base64url");
    await refused(verifier().verify(`${header}.${payload}.${signature}`), BadSignature);
  });

  test("tampered signature and header", async () => {
    const good = token(key);
    const flipped = good.slice(0, -2) + (good.at(-2) === "A" ? "B" : "A") + good.at(-1);
    await refused(verifier().verify(flipped), BadSignature);
  });

  test("a validly signed token of another typ", async () => {
    for (const typ of ["JWT", "at+jwt", "application/entitlements+jwt", "Entitlements+JWT"]) {
      await refused(verifier().verify(token(key, claims(), { typ })), BadType);
    }
    // No typ at all (JSON.stringify drops the undefined member).
    await refused(verifier().verify(token(key, claims(), { typ: undefined })), BadType);
  });

  test("a token issued before the account's not_before", async () => {
    const v = verifier();
    const t = token(key, claims({ iat: NOW - 10 }));
    assert.ok(await v.verify(t));
    v.revoke("reader-1", NOW - 5);
    await refused(v.verify(t), TokenRevoked);
    // Other accounts, and tokens issued after not_before, are unaffected.
    assert.ok(await v.verify(token(key, claims({ sub: "reader-2", iat: NOW - 10 }))));
    assert.ok(await v.verify(token(key, claims({ iat: NOW - 5 }))));
    // An older not_before arriving later does not lift the revocation; a Date works too.
    v.revoke("reader-1", new Date((NOW - 60) * 1000));
    await refused(v.verify(t), TokenRevoked);
  });

  test("garbage", async () => {
    for (const junk of ["", "a.b", "a.b.c.d", "!!.??.**", "e30", "bm90IGpzb24.e30.", null, 42]) {
      await refused(verifier().verify(junk), MalformedToken);
    }
  });

  test("over 8 KiB, before any parsing", async () => {
    const big = token(key, claims({ padding: "x".repeat(8 * 1024) }));
    await refused(verifier().verify(big), TokenTooLarge);
  });

  test("a key whose own alg differs from the header's is skipped: unknown kid", async () => {
    const other = makeKey("es384-declared");
    const server = await countingServer({ keys: [{ ...other.jwk, alg: "ES384" }] });
    try {
      const v = verifier({ jwksUrl: server.url });
      await refused(v.verify(token(other)), UnknownKey);
      await refused(verifier({ jwksUrl: server.url, algorithms: ["ES256", "ES384"] }).verify(token(other)), UnknownKey);
    } finally {
      await server.close();
    }
  });

  test("a symmetric key in the JWKS is never used", async () => {
    const secret = Buffer.from("public-but-symmetric").toString("base64url");
    const server = await countingServer({ keys: [{ kty: "oct", k: secret, kid: "oct", alg: "HS256" }] });
    try {
      const forged = hs256("public-but-symmetric", claims(), { kid: "oct" });
      await refused(verifier({ jwksUrl: server.url }).verify(forged), BadAlgorithm);
      const v = verifier({ jwksUrl: server.url });
      await refused(v.verify(token(makeKey("oct"))), UnknownKey);
    } finally {
      await server.close();
    }
  });
});

test("only allow-listed algorithms can be configured", () => {
  for (const algorithms of [["HS256"], ["none"], ["ES256", "PS256"], []]) {
    assert.throws(() => verifier({ algorithms }), TypeError);
  }
});

test("leeway and clockSkew lie within 0..60 s", () => {
  for (const bad of [{ leeway: 61 }, { leeway: -1 }, { clockSkew: 600 }, { leeway: "5" }]) {
    assert.throws(() => verifier(bad), RangeError);
  }
});

test("a missing jti or a plan that is not a string is malformed", async () => {
  const { jti, ...noJti } = claims();
  await refused(verifier().verify(token(key, noJti)), MalformedToken);
  await refused(verifier().verify(token(key, claims({ plan: 3 }))), MalformedToken);
  assert.equal((await verifier().verify(token(key, claims({ plan: null })))).plan, null);
});

test("forbidden headers and crit are named before the algorithm, as in the Python SDK", async () => {
  await refused(verifier().verify(unsigned(claims(), { kid: key.kid, jku: attacker.url })), ForbiddenHeader);
  await refused(verifier().verify(hs256(key.pem, claims(), { kid: key.kid, crit: ["x"] })), CriticalHeader);
});

test("revocations older than a day are forgotten once over 1024 accounts", async () => {
  const clock = manualClock();
  const v = verifier({ clock });
  v.revoke("old", NOW - 100000);
  v.revoke("recent", NOW - 10);
  for (let n = 0; n < 1024; n += 1) v.revoke(`r${n}`, NOW);
  assert.equal(v.notBefore.has("old"), false);
  assert.equal(v.notBefore.get("recent"), NOW - 10);
});

test("RS256 and EdDSA keys verify only when allowed, and only their own algorithm", async () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ed = generateKeyPairSync("ed25519");
  const keys = [
    { ...rsa.publicKey.export({ format: "jwk" }), kid: "rsa", alg: "RS256", use: "sig" },
    { ...ed.publicKey.export({ format: "jwk" }), kid: "ed", alg: "EdDSA", use: "sig" },
  ];
  const server = await countingServer({ keys });
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const signed = (alg, kid, privateKey) => {
    const input = `${b64({ alg, kid, typ: "entitlements+jwt" })}.${b64(claims())}`;
    const digest = alg === "EdDSA" ? null : "sha256";
    return `${input}.${sign(digest, Buffer.from(input), privateKey).toString("base64url")}`;
  };
  try {
    const all = verifier({ jwksUrl: server.url, algorithms: ["ES256", "RS256", "EdDSA"] });
    assert.equal((await all.verify(signed("RS256", "rsa", rsa.privateKey))).accountId, "reader-1");
    assert.equal((await all.verify(signed("EdDSA", "ed", ed.privateKey))).accountId, "reader-1");
    // A kid under another algorithm name has no usable key; the default allow-list refuses RS256.
    await refused(all.verify(signed("EdDSA", "rsa", ed.privateKey)), UnknownKey);
    await refused(all.verify(signed("RS256", "ed", rsa.privateKey)), UnknownKey);
    await refused(verifier({ jwksUrl: server.url }).verify(signed("RS256", "rsa", rsa.privateKey)), BadAlgorithm);
  } finally {
    await server.close();
  }
});

test("a published key that cannot be imported verifies nothing", async () => {
  const broken = makeKey("broken");
  const server = await countingServer({ keys: [{ ...broken.jwk, x: "AAAA" }] });
  try {
    await refused(verifier({ jwksUrl: server.url }).verify(token(broken)), UnknownKey);
  } finally {
    await server.close();
  }
});

test("header names from Object.prototype are not algorithms", async () => {
  assert.throws(() => verifier({ algorithms: ["toString"] }), TypeError);
  await refused(verifier().verify(token(key, claims(), { alg: "constructor" })), BadAlgorithm);
});

test("a missing iss or aud is malformed (presence is checked before the values)", async () => {
  const { iss, ...noIss } = claims();
  const { aud, ...noAud } = claims();
  await refused(verifier().verify(token(key, noIss)), MalformedToken);
  await refused(verifier().verify(token(key, noAud)), MalformedToken);
});
