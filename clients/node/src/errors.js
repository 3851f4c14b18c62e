// One error class per failure kind; `code` is the stable string both SDKs (Python, Node) share.

/** Base of every error this SDK throws on purpose. */
export class EntitlementsError extends Error {
  /** @param {string} message @param {{cause?: unknown}} [options] */
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }

  /** @returns {string} */
  get code() {
    return /** @type {typeof EntitlementsError} */ (this.constructor).code;
  }
}
EntitlementsError.code = "error";

/** A token that was refused; `code` says why. */
export class TokenError extends EntitlementsError {}
TokenError.code = "invalid_token";

function kind(code) {
  const Kind = class extends TokenError {};
  Kind.code = code;
  return Kind;
}

// Named classes (not just codes) so callers can `instanceof` the one failure they care about.
export class MalformedToken extends kind("malformed") {}
export class TokenTooLarge extends kind("too_large") {}
export class BadAlgorithm extends kind("bad_alg") {}
export class BadType extends kind("bad_typ") {}
export class UnknownKey extends kind("unknown_kid") {}
export class BadSignature extends kind("bad_signature") {}
export class TokenExpired extends kind("expired") {}
export class TokenNotYetValid extends kind("not_yet_valid") {}
export class BadIssuer extends kind("bad_issuer") {}
export class BadAudience extends kind("bad_audience") {}
export class CriticalHeader extends kind("crit") {}
export class ForbiddenHeader extends kind("forbidden_header") {}
export class TokenRevoked extends kind("revoked") {}

/** The JWKS could not be fetched and no key is cached: the token may be fine, we cannot tell. */
export class JwksUnavailable extends EntitlementsError {}
JwksUnavailable.code = "jwks_unavailable";

/** A change event that was refused; `code` says why. */
export class EventError extends EntitlementsError {}
EventError.code = "bad_event";

export class EventMalformed extends EventError {}
EventMalformed.code = "event_malformed";
export class EventTimestampError extends EventError {}
EventTimestampError.code = "event_timestamp";
export class EventSignatureError extends EventError {}
EventSignatureError.code = "event_signature";
