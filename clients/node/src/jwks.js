// The JWKS cache behind TokenVerifier.
//
// Not jose's createRemoteJWKSet, on purpose (checked against jose 6.2.18):
// - it caches for a fixed `cacheMaxAge` and ignores the service's Cache-Control;
// - once that age has passed it refetches before verifying, and a failed fetch fails the
//   verification: a JWKS outage would refuse every token instead of keeping the known keys;
// - it reads Date.now(), so its timing cannot be tested without waiting.
// Its unknown-kid cooldown alone would do. This is the same idea in a few lines, with keys
// imported by jose's importJWK.

import { importJWK } from "jose";

import { JwksUnavailable } from "./errors.js";

export const MIN_MAX_AGE = 60; // seconds; also the shortest gap between two fetches for unknown kids
export const MAX_MAX_AGE = 86400;
const DEFAULT_MAX_AGE = 300; // the service's default, for a response without Cache-Control
const RETRY_EMPTY = 5; // seconds between attempts while no key has ever been fetched
const MAX_BYTES = 256 * 1024;
const MAX_KEYS = 100;

// The only keys accepted: public, asymmetric, for signing.
const KEY_TYPES = new Set(["EC", "OKP", "RSA"]);
const PUBLIC_MEMBERS = ["kty", "crv", "x", "y", "n", "e", "alg", "kid", "use"];

/** Return max-age (bounded to 60 s .. 1 day) from a Cache-Control value. */
export function maxAgeOf(cacheControl) {
  if (!cacheControl) return DEFAULT_MAX_AGE;
  const directives = cacheControl.toLowerCase().split(",").map((d) => d.trim());
  if (directives.includes("no-store") || directives.includes("no-cache")) return MIN_MAX_AGE;
  const found = directives.find((d) => d.startsWith("max-age="));
  const seconds = found ? Number.parseInt(found.slice(8), 10) : Number.NaN;
  if (!Number.isFinite(seconds)) return DEFAULT_MAX_AGE;
  return Math.min(MAX_MAX_AGE, Math.max(MIN_MAX_AGE, seconds));
}

/** Keep only the public members of the usable signing keys of a JWKS document. */
function publicKeys(document) {
  if (document === null || typeof document !== "object" || !Array.isArray(document.keys)) {
    throw new TypeError("not a JWK Set");
  }
  const keys = new Map();
  for (const jwk of document.keys.slice(0, MAX_KEYS)) {
    if (jwk === null || typeof jwk !== "object" || typeof jwk.kid !== "string") continue;
    if (!KEY_TYPES.has(jwk.kty) || (jwk.use !== undefined && jwk.use !== "sig")) continue;
    if (typeof jwk.alg !== "string") continue; // the header alg must equal the key's alg
    const clean = {};
    for (const member of PUBLIC_MEMBERS) if (member in jwk) clean[member] = jwk[member];
    keys.set(jwk.kid, clean);
  }
  return keys;
}

/** Fetches and caches one JWKS URL; `clock()` returns Unix seconds. */
export class JwksCache {
  constructor({ url, fetch: fetchImpl = globalThis.fetch, clock, timeoutMs = 5000 }) {
    this.url = String(new URL(url));
    this.fetch = fetchImpl;
    this.clock = clock;
    this.timeoutMs = timeoutMs;
    this.jwks = new Map(); // kid -> public JWK
    this.imported = new Map(); // kid -> CryptoKey
    this.loaded = false;
    this.expiresAt = 0; // when the cached set goes stale (Cache-Control)
    this.lastAttempt = -Infinity; // start of the last fetch, successful or not
    this.pending = null;
    this.lastError = null;
  }

  /** Return the public JWK of `kid`, fetching at most as the rules allow; null if unknown. */
  async jwk(kid) {
    const now = this.clock();
    const sinceAttempt = now - this.lastAttempt;
    if (!this.loaded) {
      if (this.pending || sinceAttempt >= RETRY_EMPTY) await this.refresh();
    } else if (now >= this.expiresAt) {
      // Stale: refresh, but an outage keeps the cached keys and is retried once a minute.
      if (this.pending || sinceAttempt >= MIN_MAX_AGE) await this.refresh();
    } else if (!this.jwks.has(kid) && (this.pending || sinceAttempt >= MIN_MAX_AGE)) {
      // An unknown kid may be a key rotated in: one refetch per minute, however many tokens.
      await this.refresh();
    }
    if (!this.loaded) {
      throw new JwksUnavailable(`the JWKS at ${this.url} could not be fetched`, {
        cause: this.lastError,
      });
    }
    return this.jwks.get(kid) ?? null;
  }

  /** Return the imported key of `kid` (a jwk() result). */
  async key(kid, jwk) {
    let key = this.imported.get(kid);
    if (key === undefined) {
      key = await importJWK(jwk, jwk.alg);
      if (this.jwks.get(kid) === jwk) this.imported.set(kid, key);
    }
    return key;
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
    if (response.status !== 200) throw new Error(`the JWKS answered ${response.status}`);
    const text = await response.text();
    if (text.length > MAX_BYTES) throw new Error("the JWKS is too large");
    const keys = publicKeys(JSON.parse(text));
    const maxAge = maxAgeOf(response.headers.get("cache-control"));
    // Keep imported keys whose JWK did not change; drop the rest.
    for (const [kid, jwk] of this.jwks) {
      if (JSON.stringify(keys.get(kid)) !== JSON.stringify(jwk)) this.imported.delete(kid);
      else keys.set(kid, jwk);
    }
    this.jwks = keys;
    this.loaded = true;
    this.expiresAt = this.clock() + maxAge;
    this.lastError = null;
  }
}
