// Verify one token against a running service, for tests/e2e/test_client_node.py.
// Env: JWKS_URL, ISSUER, AUDIENCE, TOKEN. Prints one JSON line; exit 0 accepted, 1 refused.
import { EntitlementsError, TokenVerifier } from "../../index.js";

const { JWKS_URL, ISSUER, AUDIENCE, TOKEN } = process.env;
if (!JWKS_URL || !ISSUER || !AUDIENCE || !TOKEN) {
  console.error("set JWKS_URL, ISSUER, AUDIENCE and TOKEN");
  process.exit(2);
}
const verifier = new TokenVerifier({ jwksUrl: JWKS_URL, issuer: ISSUER, audience: AUDIENCE });
try {
  const result = await verifier.verify(TOKEN);
  console.log(JSON.stringify({
    ok: true,
    accountId: result.accountId,
    features: result.features,
    plan: result.plan,
    expiresAt: result.expiresAt.toISOString(),
    hasComment: result.has("comment"),
  }));
} catch (error) {
  if (!(error instanceof EntitlementsError)) throw error;
  console.log(JSON.stringify({ ok: false, code: error.code, error: error.name, message: error.message }));
  process.exitCode = 1;
}
