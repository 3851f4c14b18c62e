// Types of entitlements-client (hand-written; the package itself is plain JavaScript).

export declare const TOKEN_TYPE: "entitlements+jwt";
export declare const MAX_TOKEN_BYTES: number;
export declare const MAX_KID_LENGTH: number;
export declare const MAX_CLOCK_SKEW: number;
export declare const TOLERANCE_SECONDS: number;

export type Algorithm = "ES256" | "ES384" | "EdDSA" | "RS256";

export interface TokenVerifierOptions {
  /** The service's /.well-known/jwks.json. */
  jwksUrl: string | URL;
  /** The exact `iss` of its tokens. */
  issuer: string;
  /** This site service's audience. */
  audience: string;
  /** Seconds a token is still accepted after `exp` (default 0, at most 60). */
  leeway?: number;
  /** Seconds `nbf`/`iat` may lie ahead of this clock (default and at most 60). */
  clockSkew?: number;
  /** Default ["ES256"]. */
  algorithms?: Algorithm[];
  /** Unix seconds; for tests. */
  clock?: () => number;
  /** The fetch used for the JWKS; for tests. */
  fetch?: typeof fetch;
}

export declare class VerifiedToken {
  readonly accountId: string;
  readonly features: readonly string[];
  readonly plan: string | null;
  readonly expiresAt: Date;
  readonly issuedAt: Date;
  readonly claims: Readonly<Record<string, unknown>>;
  has(feature: string): boolean;
}

export declare class TokenVerifier {
  constructor(options: TokenVerifierOptions);
  /** Resolve to the entitlements, or reject with a TokenError (JwksUnavailable on outage). */
  verify(token: string): Promise<VerifiedToken>;
  /** Refuse the account's tokens issued before `notBefore` (Unix seconds or a Date; finite, >= 0). */
  revoke(accountId: string, notBefore: number | Date): void;
}

export type HeadersLike = Headers | Record<string, string | string[] | undefined>;

export interface ChangeEvent {
  type: string;
  timestamp: string;
  data: {
    account_id: string;
    entitlements: Record<string, unknown>;
    changed: string[];
    reason: string;
    not_before: number | null;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export declare class EventVerifier {
  constructor(secrets: string | string[], options?: { tolerance?: number; clock?: () => number });
  /** Verify the raw body and headers; return the parsed event or throw an EventError. */
  verify(body: string | Uint8Array, headers: HeadersLike): ChangeEvent;
}

export interface EventReceiverOptions {
  secret: string | string[];
  verifier?: Pick<TokenVerifier, "revoke">;
  onEvent?: (event: ChangeEvent, id: string) => unknown;
  tolerance?: number;
  clock?: () => number;
}

export declare class EventReceiver {
  constructor(options: EventReceiverOptions);
  receive(body: string | Uint8Array, headers: HeadersLike): Promise<ChangeEvent>;
  /** (req, res, next?) handler: 204 when accepted, 400 problem+json when refused. */
  handler(): (req: any, res: any, next?: (error?: unknown) => void) => Promise<ChangeEvent | void>;
}

/** The `webhook-signature` value of one message. */
export declare function signEvent(
  secret: string,
  id: string,
  timestamp: number | Date,
  body: string | Uint8Array,
): string;

export interface RequiresFeatureOptions {
  verifier: Pick<TokenVerifier, "verify">;
  getToken?: (req: any) => string | null | undefined | Promise<string | null | undefined>;
}

/** Express-style middleware: next() only when the token grants `feature`; sets req.entitlements. */
export declare function requiresFeature(
  feature: string,
  options: RequiresFeatureOptions,
): (req: any, res: any, next: (error?: unknown) => void) => Promise<void>;

export declare function bearerToken(req: { headers?: Record<string, unknown> }): string | null;

export declare class EntitlementsError extends Error {
  static readonly code: string;
  readonly code: string;
}
export declare class TokenError extends EntitlementsError {}
export declare class MalformedToken extends TokenError {}
export declare class TokenTooLarge extends TokenError {}
export declare class BadAlgorithm extends TokenError {}
export declare class BadType extends TokenError {}
export declare class UnknownKey extends TokenError {}
export declare class BadSignature extends TokenError {}
export declare class TokenExpired extends TokenError {}
export declare class TokenNotYetValid extends TokenError {}
export declare class BadIssuer extends TokenError {}
export declare class BadAudience extends TokenError {}
export declare class CriticalHeader extends TokenError {}
export declare class ForbiddenHeader extends TokenError {}
export declare class TokenRevoked extends TokenError {}
export declare class JwksUnavailable extends EntitlementsError {}
export declare class EventError extends EntitlementsError {}
export declare class EventMalformed extends EventError {}
export declare class EventTimestampError extends EventError {}
export declare class EventSignatureError extends EventError {}
