// Change events, signed as Standard Webhooks (https://www.standardwebhooks.com/):
// HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}" with the endpoint's whsec_ secret.
// As the reference libraries (and the Python SDK) do, the timestamp signed is the number's own
// spelling: "0123" is checked as "123".

import { createHmac, timingSafeEqual } from "node:crypto";

import { EventMalformed, EventSignatureError, EventTimestampError } from "./errors.js";

export const TOLERANCE_SECONDS = 5 * 60;
const SECRET_PREFIX = "whsec_";
const MAX_BODY_BYTES = 1024 * 1024;
const TIMESTAMP = /^[0-9]{1,15}$/;
// Standard base64 with its padding, as the Python SDK reads a secret after padding it.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Return the key bytes of a `whsec_<base64>` secret (the prefix is optional). */
function secretBytes(secret) {
  if (typeof secret !== "string" || !secret) throw new TypeError("a webhook secret is a string");
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  // Strict: Buffer.from(..., "base64") would skip junk and make a typo'd secret a different key.
  const padded = encoded + "=".repeat((4 - (encoded.length % 4)) % 4);
  if (!BASE64.test(padded)) throw new TypeError("the webhook secret is not whsec_ and base64");
  const bytes = Buffer.from(padded, "base64");
  if (bytes.length === 0) throw new TypeError("the webhook secret is empty");
  return bytes;
}

function bodyBytes(body) {
  if (typeof body === "string") return Buffer.from(body, "utf8");
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  // A parsed body cannot be verified: the signature covers the exact bytes received.
  throw new TypeError("pass the raw request body (string or Buffer), not a parsed object");
}

/** Read one header from a Fetch Headers, a Node headers object or a plain object. */
function header(headers, name) {
  if (headers && typeof headers.get === "function") return headers.get(name) ?? undefined;
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(" ") : value;
  }
  return undefined;
}

/** The base64 HMAC of one message; `seconds` a number (never the header's raw spelling). */
function hmac(key, id, seconds, body) {
  return createHmac("sha256", key).update(`${id}.${String(seconds)}.`).update(body).digest("base64");
}

/** Return the `webhook-signature` value for one message (what the service sends). */
export function signEvent(secret, id, timestamp, body) {
  const seconds = timestamp instanceof Date ? Math.floor(timestamp.getTime() / 1000) : Number(timestamp);
  return `v1,${hmac(secretBytes(secret), id, seconds, bodyBytes(body))}`;
}

/** Verifies change events with one secret, or several while the receiver rotates its own. */
export class EventVerifier {
  /** @param {string | string[]} secrets @param {{tolerance?: number, clock?: () => number}} [options] */
  constructor(secrets, { tolerance = TOLERANCE_SECONDS, clock = () => Date.now() / 1000 } = {}) {
    const list = Array.isArray(secrets) ? secrets : [secrets];
    if (list.length === 0) throw new TypeError("at least one webhook secret is required");
    this.keys = list.map(secretBytes);
    this.tolerance = tolerance;
    this.clock = clock;
  }

  /** Verify the raw body and headers; return the parsed event or throw an EventError. */
  verify(body, headers) {
    const raw = bodyBytes(body);
    const id = header(headers, "webhook-id");
    const timestamp = header(headers, "webhook-timestamp");
    const signatures = header(headers, "webhook-signature");
    if (!id || !timestamp || !signatures) throw new EventMalformed("missing webhook headers");
    if (raw.length > MAX_BODY_BYTES) throw new EventMalformed("the event body is too large");
    if (!TIMESTAMP.test(timestamp)) throw new EventMalformed("invalid webhook-timestamp");
    const now = this.clock();
    const sent = Number(timestamp);
    // Both ways: an old message may be a replay, a future one was signed to be replayed later.
    if (sent < now - this.tolerance) throw new EventTimestampError("the message is too old");
    if (sent > now + this.tolerance) throw new EventTimestampError("the message is too new");

    const expected = this.keys.map((key) => Buffer.from(`v1,${hmac(key, id, sent, raw)}`));
    let matched = false;
    for (const entry of signatures.split(/\s+/)) {
      if (!entry.startsWith("v1,")) continue; // other schemes (v1a, ...) are not ours
      // The exact base64 text is compared, as by the Python SDK: no lenient decoding.
      const given = Buffer.from(entry);
      for (const signature of expected) {
        // Every comparison runs (no early exit), each in constant time.
        if (given.length === signature.length && timingSafeEqual(given, signature)) matched = true;
      }
    }
    if (!matched) throw new EventSignatureError("no signature matches");
    let event;
    try {
      event = JSON.parse(raw.toString("utf8"));
    } catch (cause) {
      throw new EventMalformed("the event body is not JSON", { cause });
    }
    // The shape the Python SDK requires too: {"type": string, "data": object}.
    const data = event?.data;
    if (typeof event?.type !== "string" || data === null || typeof data !== "object" || Array.isArray(data)) {
      throw new EventMalformed("the event is not {type, data}");
    }
    const notBefore = data.not_before;
    // JSON.parse reads 1e400 as Infinity: a finite number >= 0 only.
    if (notBefore !== undefined && notBefore !== null
      && (typeof notBefore !== "number" || !Number.isFinite(notBefore) || notBefore < 0)) {
      throw new EventMalformed("not_before is not finite Unix seconds >= 0");
    }
    return event;
  }
}

/** Read a request's raw body: a Buffer/string someone kept, or the unread stream. */
async function rawBody(req) {
  for (const candidate of [req.rawBody, req.body]) {
    if (typeof candidate === "string" || candidate instanceof Uint8Array) return candidate;
  }
  if (req.readableEnded) {
    // Signatures cover the bytes received; a parsed and re-serialized body would not verify.
    throw new TypeError("the body was read already: mount the receiver before a body parser");
  }
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new EventMalformed("the event body is too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Receives change events: verifies them, applies each account's `not_before` to the token
 * verifier (so tokens issued before a ban or refund are refused at once), then calls `onEvent`.
 * Delivery is at least once: `onEvent` may see an event twice (`webhook-id` tells them apart).
 */
export class EventReceiver {
  /**
   * @param {object} options
   * @param {string | string[]} options.secret the endpoint's whsec_ secret(s)
   * @param {{revoke(accountId: string, notBefore: number): void}} [options.verifier]
   * @param {(event: object, id: string) => unknown} [options.onEvent]
   * @param {number} [options.tolerance] @param {() => number} [options.clock]
   */
  constructor({ secret, verifier, onEvent, tolerance, clock }) {
    this.events = new EventVerifier(secret, { tolerance, clock });
    this.verifier = verifier;
    this.onEvent = onEvent;
  }

  /** Verify and apply one delivery; return the event. */
  async receive(body, headers) {
    const event = this.events.verify(body, headers);
    const { account_id: accountId, not_before: notBefore } = event.data;
    if (notBefore !== undefined && notBefore !== null) {
      if (typeof accountId !== "string") throw new EventMalformed("not_before needs an account_id");
      this.verifier?.revoke(accountId, notBefore);
    }
    if (this.onEvent) await this.onEvent(event, header(headers, "webhook-id"));
    return event;
  }

  /** An Express-style (req, res) handler: 204 when accepted, 400 problem+json when refused. */
  handler() {
    return async (req, res, next) => {
      let event;
      try {
        event = await this.receive(await rawBody(req), req.headers);
      } catch (error) {
        if (error instanceof EventMalformed || error instanceof EventTimestampError
          || error instanceof EventSignatureError) {
          res.statusCode = 400;
          res.setHeader("Content-Type", "application/problem+json");
          const detail = error.message;
          res.end(JSON.stringify({ type: "about:blank", title: "Bad Request", status: 400, detail, code: error.code }));
          return;
        }
        if (next) return next(error);
        throw error;
      }
      res.statusCode = 204;
      res.end();
      return event;
    };
  }
}
