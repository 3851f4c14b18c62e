// Strict verification of the service's entitlement tokens (the rules of issue 11, shared with
// the Python SDK): checks that need no key run first, on the raw header, so a forged token
// costs no fetch and no signature check.

import { errors as joseErrors, jwtVerify } from "jose";

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
  UnknownKey,
} from "./errors.js";
import { JwksCache } from "./jwks.js";

export const TOKEN_TYPE = "entitlements+jwt";
export const MAX_TOKEN_BYTES = 8 * 1024;
export const MAX_KID_LENGTH = 128;
export const MAX_CLOCK_SKEW = 60; // seconds; the bound of both leeways
// A revocation outlives every token it refuses: the service's longest token TTL is a day.
const REVOCATION_HORIZON = 86400 + 3600;
const PRUNE_ABOVE = 1024;

// The algorithms a key may verify, by the key's type and curve. The service signs ES256 only;
// the others are accepted only when a caller allows them and the key says so itself.
const KEY_SHAPES = {
  ES256: { kty: "EC", crv: "P-256" },
  ES384: { kty: "EC", crv: "P-384" },
  EdDSA: { kty: "OKP", crv: "Ed25519" },
  RS256: { kty: "RSA" },
};
// Header parameters that point at other keys: never followed, the token is refused.
const FORBIDDEN_HEADERS = ["jku", "x5u", "jwk", "x5c"];
const SEGMENT = /^[A-Za-z0-9_-]*$/;

/** The verified entitlements of one token. */
export class VerifiedToken {
  constructor(claims) {
    this.accountId = claims.sub;
    this.features = Object.freeze([...claims.features]);
    this.plan = claims.plan ?? null;
    this.expiresAt = new Date(claims.exp * 1000);
    this.issuedAt = new Date(claims.iat * 1000);
    this.claims = Object.freeze({ ...claims });
    Object.freeze(this);
  }

  /** Whether the token grants `feature`. */
  has(feature) {
    return this.features.includes(feature);
  }
}

function toSeconds(value, name) {
  const seconds = value instanceof Date ? value.getTime() / 1000 : value;
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) {
    throw new TypeError(`${name} must be Unix seconds or a Date`);
  }
  return seconds;
}

/** Decode the protected header of a compact JWS without trusting anything in it. */
function decodeHeader(token) {
  if (typeof token !== "string") throw new MalformedToken("a token is a string");
  if (Buffer.byteLength(token, "utf8") > MAX_TOKEN_BYTES) {
    throw new TokenTooLarge(`a token is at most ${MAX_TOKEN_BYTES} bytes`);
  }
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every((part) => SEGMENT.test(part))) {
    throw new MalformedToken("not a compact JWS");
  }
  let header;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
  } catch {
    throw new MalformedToken("the header is not JSON");
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new MalformedToken("the header is not a JSON object");
  }
  return header;
}

export class TokenVerifier {
  /**
   * @param {object} options
   * @param {string} options.jwksUrl  the service's /.well-known/jwks.json
   * @param {string} options.issuer   the exact `iss`
   * @param {string} options.audience this site service's audience
   * @param {number} [options.leeway] seconds a token is accepted past `exp` (default 0, at most 60)
   * @param {number} [options.clockSkew] seconds `nbf`/`iat` may lie ahead of our clock (default and at most 60)
   * @param {string[]} [options.algorithms] default ["ES256"]
   * @param {() => number} [options.clock] Unix seconds (tests)
   * @param {typeof fetch} [options.fetch] the fetch used for the JWKS (tests)
   */
  constructor({
    jwksUrl,
    issuer,
    audience,
    leeway = 0,
    clockSkew = MAX_CLOCK_SKEW,
    algorithms = ["ES256"],
    clock = () => Date.now() / 1000,
    fetch,
  }) {
    if (typeof issuer !== "string" || !issuer) throw new TypeError("issuer is required");
    if (typeof audience !== "string" || !audience) throw new TypeError("audience is required");
    for (const [name, value] of [["leeway", leeway], ["clockSkew", clockSkew]]) {
      if (typeof value !== "number" || !(value >= 0 && value <= MAX_CLOCK_SKEW)) {
        throw new RangeError(`${name} must lie within 0..${MAX_CLOCK_SKEW} s`);
      }
    }
    if (algorithms.length === 0) throw new TypeError("at least one algorithm is required");
    for (const alg of algorithms) {
      if (!Object.hasOwn(KEY_SHAPES, alg)) throw new TypeError(`algorithm ${alg} is not allowed`);
    }
    this.issuer = issuer;
    this.audience = audience;
    this.leeway = leeway;
    this.clockSkew = clockSkew;
    this.algorithms = Object.freeze([...algorithms]);
    this.clock = clock;
    this.keys = new JwksCache({ url: jwksUrl, fetch, clock });
    this.notBefore = new Map(); // account id -> Unix seconds
  }

  /** Refuse the account's tokens issued before `notBefore` (Unix seconds or a Date). */
  revoke(accountId, notBefore) {
    const seconds = toSeconds(notBefore, "notBefore");
    // Events may arrive out of order: a later, older not_before never reopens the door.
    if (!(this.notBefore.get(accountId) >= seconds)) this.notBefore.set(accountId, seconds);
    if (this.notBefore.size > PRUNE_ABOVE) {
      // Tokens older than the horizon have expired anyway: forget their revocations.
      const horizon = this.clock() - REVOCATION_HORIZON;
      for (const [account, instant] of this.notBefore) {
        if (instant < horizon) this.notBefore.delete(account);
      }
    }
  }

  /** Verify a token; return its entitlements or throw a TokenError (JwksUnavailable on outage). */
  async verify(token) {
    const header = decodeHeader(token);
    const { alg, kid, typ } = header;
    // The same order as the Python SDK, so both name the same failure for the same token.
    const forbidden = FORBIDDEN_HEADERS.filter((name) => Object.hasOwn(header, name));
    if (forbidden.length) throw new ForbiddenHeader(`header ${forbidden.join(", ")} is refused`);
    if (Object.hasOwn(header, "crit")) throw new CriticalHeader("no critical header extension is understood");
    if (typeof alg !== "string" || !this.algorithms.includes(alg)) {
      throw new BadAlgorithm(`algorithm ${JSON.stringify(alg)} is not allowed`);
    }
    // Exact: jose alone would also take "application/entitlements+jwt" or another case.
    if (typ !== TOKEN_TYPE) throw new BadType(`typ must be ${TOKEN_TYPE}`);
    if (typeof kid !== "string" || !kid || kid.length > MAX_KID_LENGTH) {
      // Refused before the cache: a huge kid costs neither a lookup nor a fetch.
      throw new UnknownKey("kid is missing, not a string or too long");
    }

    const jwk = await this.keys.jwk(kid);
    if (jwk === null) throw new UnknownKey("no published key has this kid");
    const shape = KEY_SHAPES[alg];
    if (jwk.alg !== alg || jwk.kty !== shape.kty || (shape.crv && jwk.crv !== shape.crv)) {
      throw new BadAlgorithm(`the key ${kid} does not verify ${alg}`);
    }
    let key;
    try {
      key = await this.keys.key(kid, jwk);
    } catch (cause) {
      throw new UnknownKey(`the published key ${kid} cannot be imported`, { cause });
    }

    const now = this.clock();
    let payload;
    try {
      // jose checks with the looser of our two tolerances; the exact bounds follow.
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [alg],
        typ: TOKEN_TYPE,
        issuer: this.issuer,
        audience: this.audience,
        requiredClaims: ["exp", "iat", "sub", "jti"],
        crit: {},
        currentDate: new Date(now * 1000),
        clockTolerance: Math.max(this.leeway, this.clockSkew),
      }));
    } catch (error) {
      throw translate(error);
    }
    if (payload.exp <= now - this.leeway) throw new TokenExpired("the token has expired");
    if (payload.nbf !== undefined && payload.nbf > now + this.clockSkew) {
      throw new TokenNotYetValid("the token is not valid yet (nbf)");
    }
    if (payload.iat > now + this.clockSkew) {
      throw new TokenNotYetValid("the token was issued in the future (iat)");
    }
    if (typeof payload.sub !== "string" || !Array.isArray(payload.features)) {
      throw new MalformedToken("the token carries no account or features");
    }
    if (!payload.features.every((feature) => typeof feature === "string")) {
      throw new MalformedToken("features are strings");
    }
    if (typeof payload.jti !== "string") throw new MalformedToken("jti is not a string");
    if (payload.plan !== undefined && payload.plan !== null && typeof payload.plan !== "string") {
      throw new MalformedToken("plan is not a string");
    }
    const notBefore = this.notBefore.get(payload.sub);
    if (notBefore !== undefined && payload.iat < notBefore) {
      throw new TokenRevoked("the account's tokens issued before this instant are revoked");
    }
    return new VerifiedToken(payload);
  }
}

/** Map a jose error to ours (jose's message kept as the cause). */
function translate(error) {
  const options = { cause: error };
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new BadSignature("the signature does not verify", options);
  }
  if (error instanceof joseErrors.JWTExpired) return new TokenExpired("the token has expired", options);
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return new BadAlgorithm(error.message, options);
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    // A missing iss or aud is the wrong one, as in the Python SDK.
    if (error.claim === "iss") return new BadIssuer("the issuer is not the configured one", options);
    if (error.claim === "aud") return new BadAudience("the token is not for this audience", options);
    if (error.reason === "missing" || error.reason === "invalid") {
      return new MalformedToken(error.message, options);
    }
    switch (error.claim) {
      case "nbf":
      case "iat":
        return new TokenNotYetValid(error.message, options);
      case "typ":
        return new BadType(error.message, options);
      default:
        return new MalformedToken(error.message, options);
    }
  }
  if (error instanceof joseErrors.JOSENotSupported && /crit/i.test(error.message)) {
    return new CriticalHeader(error.message, options);
  }
  if (error instanceof joseErrors.JOSEError) return new MalformedToken(error.message, options);
  return error;
}
