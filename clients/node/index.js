// entitlements-client: verify the entitlements service's tokens and change events in Node.
export { TokenVerifier, VerifiedToken, TOKEN_TYPE, MAX_TOKEN_BYTES, MAX_KID_LENGTH, MAX_CLOCK_SKEW } from "./src/verifier.js";
export { EventVerifier, EventReceiver, signEvent, TOLERANCE_SECONDS } from "./src/events.js";
export { requiresFeature, bearerToken } from "./src/express.js";
export * from "./src/errors.js";
