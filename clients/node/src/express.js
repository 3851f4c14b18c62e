// Gate an Express-style route on a feature. Plain (req, res, next): works with Express,
// Connect or node:http alike, and needs none of them installed.

import { JwksUnavailable, TokenError } from "./errors.js";

/** The bearer token of the Authorization header, or null. */
export function bearerToken(req) {
  const value = req.headers?.authorization;
  if (typeof value !== "string") return null;
  const match = /^Bearer[ \t]+([^\s]+)\s*$/i.exec(value);
  return match ? match[1] : null;
}

// The same problem+json as the Python SDK's Flask helper, codes included.
function problem(res, status, title, detail, code, headers = {}) {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader("Content-Type", "application/problem+json");
  res.setHeader("Cache-Control", "no-store");
  res.end(JSON.stringify({ type: "about:blank", title, status, detail, code }));
}

/**
 * Return middleware that lets a request through only when its token grants `feature`;
 * the verified entitlements are left on `req.entitlements`.
 *
 * @param {string} feature
 * @param {object} options
 * @param {{verify(token: string): Promise<object>}} options.verifier a TokenVerifier
 * @param {(req: object) => string | null | undefined | Promise<string | null | undefined>} [options.getToken]
 *   where the token is (default: the Authorization bearer token)
 */
export function requiresFeature(feature, { verifier, getToken = bearerToken } = {}) {
  if (typeof feature !== "string" || !feature) throw new TypeError("feature is required");
  if (!verifier || typeof verifier.verify !== "function") throw new TypeError("verifier is required");
  return async function requireFeature(req, res, next) {
    let entitlements;
    try {
      const token = await getToken(req);
      if (!token) {
        problem(res, 401, "Unauthorized", "no token", "missing_token", {
          "WWW-Authenticate": "Bearer",
        });
        return;
      }
      entitlements = await verifier.verify(token);
    } catch (error) {
      if (error instanceof TokenError) {
        problem(res, 401, "Unauthorized", error.message, error.code, {
          "WWW-Authenticate": 'Bearer error="invalid_token"',
        });
        return;
      }
      if (error instanceof JwksUnavailable) {
        problem(res, 503, "Service Unavailable", error.message, error.code, {
          "Retry-After": "5",
        });
        return;
      }
      return next(error);
    }
    req.entitlements = entitlements;
    if (!entitlements.has(feature)) {
      problem(res, 403, "Forbidden", `the account lacks ${JSON.stringify(feature)}`, "no_feature");
      return;
    }
    return next();
  };
}
