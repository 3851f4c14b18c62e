// Strict verification of the service's entitlement tokens (the rules of issue 11, shared with
// the Python SDK; the order of the checks is theirs too, so both name the same failure for the
// same token: README "Order of the checks"). Checks that need no key run first, on our own
// strict parse of the header and claims, so a forged token costs no fetch and no signature
// check; jose verifies the signature and re-checks the claims, more loosely, behind ours.

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
import { parseJsonObject } from "./json.js";
import { JwksCache, KEY_SHAPES } from "./jwks.js";

export const TOKEN_TYPE = "entitlements+jwt";
export const MAX_TOKEN_BYTES = 8 * 1024;
export const MAX_KID_LENGTH = 128; // UTF-8 bytes
export const MAX_CLOCK_SKEW = 60; // seconds; the bound of both leeways
// A revocation outlives every token it refuses: the service's longest token TTL is a day.
const REVOCATION_HORIZON = 86400 + 3600;
const PRUNE_ABOVE = 1024;
// Header parameters that point at other keys: never followed, the token is refused.
const FORBIDDEN_HEADERS = ["jku", "x5u", "jwk", "x5c"];
const SEGMENT = /^[A-Za-z0-9_-]*$/;
const LAST_DATE = 253402300799; // 9999-12-31T23:59:59Z, where the Python SDK clamps expiresAt

/** The verified entitlements of one token. */
export class VerifiedToken {
  constructor(claims) {
    this.accountId = claims.sub;
    this.features = Object.freeze([...claims.features]);
    this.plan = claims.plan ?? null;
    this.expiresAt = new Date(Math.min(claims.exp, LAST_DATE) * 1000);
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
  if (typeof seconds !== "number") throw new TypeError(`${name} must be Unix seconds or a Date`);
  // NaN would compare false with every iat: a revocation that refuses nothing.
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new RangeError(`${name} must be a finite number of seconds >= 0`);
  }
  return seconds;
}

/** Decode one base64url segment strictly (unpadded, canonical length). */
function segment(part) {
  if (!SEGMENT.test(part) || part.length % 4 === 1) throw new MalformedToken("not a compact JWS");
  return Buffer.from(part, "base64url");
}

/** Size, structure and JSON of a compact JWS: its header and claims, trusting nothing yet. */
function parse(token) {
  if (typeof token !== "string") throw new MalformedToken("a token is a string");
  if (Buffer.byteLength(token, "utf8") > MAX_TOKEN_BYTES) {
    throw new TokenTooLarge(`a token is at most ${MAX_TOKEN_BYTES} bytes`);
  }
  const parts = token.split(".");
  if (parts.length !== 3) throw new MalformedToken("not a compact JWS");
  const [header, payload] = parts.map(segment);
  try {
    return { header: parseJsonObject(header), claims: parseJsonObject(payload) };
  } catch (cause) {
    throw new MalformedToken(`the header or claims are not a strict JSON object: ${cause.message}`, { cause });
  }
}

/** An iat/exp/nbf: a JSON number, integral, within 0 .. 2^53 (1e20, 1e400, -1, 0.5 are not). */
function isNumericDate(value) {
  return Number.isInteger(value) && value >= 0 && value < 2 ** 53;
}

/** The claims' presence and types (step 10 of the shared order); throw MalformedToken. */
function checkShapes(claims) {
  const has = (name) => Object.hasOwn(claims, name);
  if (!has("iss") || typeof claims.iss !== "string") throw new MalformedToken("iss is missing or not a string");
  const { aud } = claims;
  const audiences = typeof aud === "string" ? [aud] : aud;
  if (!has("aud") || !Array.isArray(audiences) || !audiences.every((a) => typeof a === "string")) {
    throw new MalformedToken("aud is missing or not a string or list of strings");
  }
  for (const name of ["sub", "jti"]) {
    if (!has(name) || typeof claims[name] !== "string" || !claims[name]) {
      throw new MalformedToken(`${name} is missing or not a non-empty string`);
    }
  }
  for (const name of ["iat", "exp", "nbf"]) {
    if (name === "nbf" && !has(name)) continue;
    if (!has(name) || !isNumericDate(claims[name])) {
      throw new MalformedToken(`${name} is missing or not an integer within 0 .. 2^53`);
    }
  }
  const { features, plan } = claims;
  if (!has("features") || !Array.isArray(features) || !features.every((f) => typeof f === "string")) {
    throw new MalformedToken("features is missing or not a list of strings");
  }
  if (plan !== undefined && plan !== null && typeof plan !== "string") {
    throw new MalformedToken("plan is not a string");
  }
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
    this.keys = new JwksCache({ url: jwksUrl, fetch, clock, algorithms: this.algorithms });
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
    const { header, claims } = parse(token);
    const { alg, kid, typ } = header;
    const forbidden = FORBIDDEN_HEADERS.filter((name) => Object.hasOwn(header, name));
    if (forbidden.length) throw new ForbiddenHeader(`header ${forbidden.join(", ")} is refused`);
    if (Object.hasOwn(header, "crit")) throw new CriticalHeader("no critical header extension is understood");
    if (typeof alg !== "string" || !this.algorithms.includes(alg)) {
      throw new BadAlgorithm(`algorithm ${JSON.stringify(alg)} is not allowed`);
    }
    // Exact: jose alone would also take "application/entitlements+jwt" or another case.
    if (typ !== TOKEN_TYPE) throw new BadType(`typ must be ${TOKEN_TYPE}`);
    if (typeof kid !== "string" || !kid || Buffer.byteLength(kid, "utf8") > MAX_KID_LENGTH) {
      // Refused before the cache: a huge kid costs neither a lookup nor a fetch.
      throw new UnknownKey(`kid is missing, not a string or over ${MAX_KID_LENGTH} bytes`);
    }
    const found = await this.keys.get(kid);
    // A key published for another algorithm is no key for this token (kty/crv follow alg).
    if (found === null || found.alg !== alg) throw new UnknownKey("no usable published key has this kid");

    const now = this.clock();
    let late = null; // a claim jose refused: ours name the failure first, in the shared order
    try {
      // jose's time checks run 1 s looser than ours (it floors `now` to whole seconds).
      await jwtVerify(token, found.key, {
        algorithms: [alg],
        typ: TOKEN_TYPE,
        issuer: this.issuer,
        audience: this.audience,
        requiredClaims: ["exp", "iat", "sub", "jti"],
        crit: {},
        currentDate: new Date(now * 1000),
        clockTolerance: Math.max(this.leeway, this.clockSkew) + 1,
      });
    } catch (error) {
      if (!(error instanceof joseErrors.JWTClaimValidationFailed || error instanceof joseErrors.JWTExpired)) {
        throw translate(error);
      }
      late = error;
    }
    checkShapes(claims);
    if (claims.iss !== this.issuer) throw new BadIssuer("the issuer is not the configured one");
    const audiences = typeof claims.aud === "string" ? [claims.aud] : claims.aud;
    if (!audiences.includes(this.audience)) throw new BadAudience("the token is not for this audience");
    if (now >= claims.exp + this.leeway) throw new TokenExpired("the token has expired");
    if (claims.iat > now + this.clockSkew) throw new TokenNotYetValid("the token was issued in the future (iat)");
    if (Object.hasOwn(claims, "nbf") && claims.nbf > now + this.clockSkew) {
      throw new TokenNotYetValid("the token is not valid yet (nbf)");
    }
    const notBefore = this.notBefore.get(claims.sub);
    if (notBefore !== undefined && claims.iat < notBefore) {
      throw new TokenRevoked("the account's tokens issued before this instant are revoked");
    }
    if (late !== null) throw translate(late);
    return new VerifiedToken(claims);
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
    if (error.reason === "missing" || error.reason === "invalid") {
      return new MalformedToken(error.message, options);
    }
    switch (error.claim) {
      case "iss":
        return new BadIssuer("the issuer is not the configured one", options);
      case "aud":
        return new BadAudience("the token is not for this audience", options);
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
