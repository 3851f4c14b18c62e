// The JWKS cache behind TokenVerifier.
//
// Not jose's createRemoteJWKSet, on purpose (checked against jose 6.2.18):
// - it caches for a fixed `cacheMaxAge` and ignores the service's Cache-Control;
// - once that age has passed it refetches before verifying, and a failed fetch fails the
//   verification: a JWKS outage would refuse every token instead of keeping the known keys;
// - it reads Date.now(), so its timing cannot be tested without waiting.
// Its unknown-kid cooldown alone would do. This is the same idea in a few lines, with keys
// imported by jose's importJWK. The rules (limits, which entries count) are the Python SDK's.

import { importJWK } from "jose";

import { JwksUnavailable } from "./errors.js";
import { parseJsonObject } from "./json.js";

export const MIN_MAX_AGE = 60; // seconds; also the shortest gap between two fetches
export const MAX_MAX_AGE = 86400;
const DEFAULT_MAX_AGE = 300; // the service's default, for a response without a usable max-age
const RETRY_EMPTY = 5; // seconds between attempts while no key has ever been fetched
export const MAX_BYTES = 1024 * 1024;
export const MAX_KEYS = 100; // entries of `keys` looked at; the rest are ignored
const MIN_RSA_BITS = 2048;

// What each allow-listed algorithm needs of its key: type, curve and coordinate size (bytes).
export const KEY_SHAPES = {
  ES256: { kty: "EC", crv: "P-256", size: 32 },
  ES384: { kty: "EC", crv: "P-384", size: 48 },
  EdDSA: { kty: "OKP", crv: "Ed25519", size: 32 },
  RS256: { kty: "RSA" },
};
const PUBLIC_MEMBERS = ["kty", "crv", "x", "y", "n", "e", "alg", "kid"];
// A published key carrying any of these is a leaked private key: never used.
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const MAX_AGE = /^max-age=([0-9]+)$/i;

/**
 * Return how long a JWKS answer may be used, from its Cache-Control: no-store/no-cache -> 60 s;
 * else the first directive exactly `max-age=<digits>` bounded to 60 s .. 1 day; else 300 s.
 */
export function maxAgeOf(cacheControl) {
  if (!cacheControl) return DEFAULT_MAX_AGE;
  const directives = cacheControl.split(",").map((d) => d.replace(/^[ \t]+|[ \t]+$/g, ""));
  const names = directives.map((d) => d.split("=", 1)[0].toLowerCase());
  if (names.includes("no-store") || names.includes("no-cache")) return MIN_MAX_AGE;
  for (const directive of directives) {
    const match = MAX_AGE.exec(directive);
    if (match) return Math.min(MAX_MAX_AGE, Math.max(MIN_MAX_AGE, Number(match[1])));
  }
  return DEFAULT_MAX_AGE;
}

function bytesOf(value) {
  if (typeof value !== "string" || !BASE64URL.test(value) || value.length % 4 === 1) return null;
  return Buffer.from(value, "base64url");
}

/** Return the public JWK of a usable entry for one of `algorithms`, or null to skip it. */
function usable(entry, algorithms) {
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) return null;
  const { kid, alg, kty, crv, use } = entry;
  if (typeof kid !== "string" || typeof alg !== "string" || !algorithms.includes(alg)) return null;
  if (use !== undefined && use !== "sig") return null;
  if (PRIVATE_MEMBERS.some((member) => Object.hasOwn(entry, member))) return null;
  const shape = KEY_SHAPES[alg];
  if (kty !== shape.kty || (shape.crv !== undefined && crv !== shape.crv)) return null;
  const coordinates = shape.kty === "RSA" ? ["n", "e"] : shape.kty === "EC" ? ["x", "y"] : ["x"];
  for (const name of coordinates) {
    const bytes = bytesOf(entry[name]);
    if (bytes === null || bytes.length === 0) return null;
    if (shape.size !== undefined && bytes.length !== shape.size) return null;
  }
  const jwk = {};
  for (const member of PUBLIC_MEMBERS) if (Object.hasOwn(entry, member)) jwk[member] = entry[member];
  return jwk;
}

/** Read a response body of at most MAX_BYTES, counting bytes as they arrive. */
async function readCapped(response) {
  const declared = Number(response.headers.get("content-length"));
  if (declared > MAX_BYTES) {
    await response.body?.cancel().catch(() => {});
    throw new Error("the JWKS is too large");
  }
  const chunks = [];
  let size = 0;
  if (response.body) {
    for await (const chunk of response.body) {
      size += chunk.byteLength;
      if (size > MAX_BYTES) throw new Error("the JWKS is too large"); // leaving the loop cancels the stream
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks);
}

/** Fetches and caches one JWKS URL; `clock()` returns Unix seconds. */
export class JwksCache {
  constructor({ url, fetch: fetchImpl = globalThis.fetch, clock, algorithms = ["ES256"], timeoutMs = 5000 }) {
    this.url = String(new URL(url));
    this.fetch = fetchImpl;
    this.clock = clock;
    this.algorithms = algorithms;
    this.timeoutMs = timeoutMs;
    this.keys = new Map(); // kid -> {jwk, alg, key: CryptoKey}
    this.loaded = false;
    this.expiresAt = 0; // when the cached set goes stale (Cache-Control)
    this.lastAttempt = -Infinity; // start of the last fetch, successful or not
    this.pending = null;
    this.lastError = null;
  }

  /**
   * Return the usable key `kid` ({jwk, alg, key}) or null, fetching at most as the rules allow.
   * A known kid never waits for a fetch: a stale set is refreshed in the background.
   */
  async get(kid) {
    const now = this.clock();
    const mayFetch = this.pending !== null
      || now - this.lastAttempt >= (this.loaded ? MIN_MAX_AGE : RETRY_EMPTY);
    if (this.keys.has(kid)) {
      // Stale: refresh for later callers; an outage keeps the cached keys (retried once a minute).
      if (now >= this.expiresAt && mayFetch) this.refresh();
    } else if (mayFetch) {
      // Empty, or an unknown kid (a key rotated in): one fetch per minute, however many tokens.
      await this.refresh();
    }
    if (!this.loaded) {
      throw new JwksUnavailable(`the JWKS at ${this.url} could not be fetched`, {
        cause: this.lastError,
      });
    }
    return this.keys.get(kid) ?? null;
  }

  /** Fetch the JWKS once (concurrent callers share the fetch); failures are kept, not thrown. */
  refresh() {
    if (!this.pending) {
      this.lastAttempt = this.clock();
      this.pending = this.load()
        .catch((error) => {
          this.lastError = error;
        })
        .finally(() => {
          this.pending = null;
        });
    }
    return this.pending;
  }

  async load() {
    const response = await this.fetch(this.url, {
      headers: { accept: "application/json, application/jwk-set+json" },
      redirect: "error",
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw new Error(`the JWKS answered ${response.status}`);
    }
    const document = parseJsonObject(await readCapped(response));
    if (!Array.isArray(document.keys)) throw new TypeError("not a JWK Set");
    const maxAge = maxAgeOf(response.headers.get("cache-control"));
    const keys = new Map();
    for (const entry of document.keys.slice(0, MAX_KEYS)) {
      const jwk = usable(entry, this.algorithms);
      // Unusable entries are skipped first; of the usable ones, the first of a kid wins.
      if (jwk === null || keys.has(jwk.kid)) continue;
      const key = await this.imported(jwk);
      if (key !== null) keys.set(jwk.kid, { jwk, alg: jwk.alg, key });
    }
    this.keys = keys;
    this.loaded = true;
    this.expiresAt = this.clock() + maxAge;
    this.lastError = null;
  }

  /** Import a JWK (reusing the key of an unchanged one); null if it is no valid public key. */
  async imported(jwk) {
    const known = this.keys.get(jwk.kid);
    if (known && JSON.stringify(known.jwk) === JSON.stringify(jwk)) return known.key;
    try {
      // Refuses a point off the curve (invalid-curve attacks).
      const key = await importJWK(jwk, jwk.alg);
      if (jwk.kty === "RSA" && !(key.algorithm?.modulusLength >= MIN_RSA_BITS)) return null;
      return key;
    } catch {
      return null;
    }
  }
}
