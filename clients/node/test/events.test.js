// Change events, cross-checked with the Standard Webhooks reference library (npm standardwebhooks).

import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, request } from "node:http";
import { test } from "node:test";

import { Webhook } from "standardwebhooks";

import {
  EventMalformed,
  EventReceiver,
  EventSignatureError,
  EventTimestampError,
  EventVerifier,
  TokenRevoked,
  TokenVerifier,
  signEvent,
} from "../index.js";
import { AUDIENCE, ISSUER, claims, fakeFetch, makeKey, manualClock, token } from "./helpers.js";

const newSecret = () => `whsec_${randomBytes(24).toString("base64")}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

function event(accountId = "reader-1", notBefore = null) {
  return JSON.stringify({
    type: "entitlements.changed",
    timestamp: new Date().toISOString(),
    data: {
      account_id: accountId,
      entitlements: { account_id: accountId, features: [], plan: null, sources: [], restrictions: [], valid_until: null },
      changed: ["comment"],
      reason: "ban",
      not_before: notBefore,
    },
  });
}

/** Headers for `body` as the reference library signs them. */
function referenceHeaders(secret, body, { id = `msg_${randomUUID()}`, at = nowSeconds() } = {}) {
  const signature = new Webhook(secret).sign(id, new Date(at * 1000), body);
  return { "webhook-id": id, "webhook-timestamp": String(at), "webhook-signature": signature };
}

/** Whether the reference library accepts the message (it reads the real clock). */
function referenceAccepts(secret, body, headers) {
  try {
    new Webhook(secret).verify(body, headers);
    return true;
  } catch {
    return false;
  }
}

function ours(secret, body, headers) {
  try {
    new EventVerifier(secret).verify(body, headers);
    return true;
  } catch (error) {
    assert.ok(error.code, `an unexpected error: ${error}`);
    return false;
  }
}

test("events the reference library signs verify, string or Buffer body", () => {
  const secret = newSecret();
  for (const body of [event(), event("r-ü-😀", 1_800_000_000), '{"type":"ping","data":{}}']) {
    const headers = referenceHeaders(secret, body);
    assert.deepEqual(new EventVerifier(secret).verify(body, headers), JSON.parse(body));
    assert.deepEqual(new EventVerifier(secret).verify(Buffer.from(body), headers), JSON.parse(body));
  }
  // Signed, but not {type: string, data: object}: malformed, as in the Python SDK.
  for (const body of ["{}", '{"type":5,"data":{}}', '{"type":"x","data":[]}', "[]"]) {
    assert.throws(() => new EventVerifier(secret).verify(body, referenceHeaders(secret, body)), EventMalformed);
  }
});

test("events signed here verify with the reference library", () => {
  const secret = newSecret();
  const body = event("reader-7", 1_800_000_000);
  const id = `msg_${randomUUID()}`;
  const at = nowSeconds();
  const headers = { "webhook-id": id, "webhook-timestamp": String(at), "webhook-signature": signEvent(secret, id, at, body) };
  assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
  assert.equal(signEvent(secret, id, new Date(at * 1000), body), new Webhook(secret).sign(id, new Date(at * 1000), body));
});

test("several signatures: any v1 match is enough, as with the reference library", () => {
  const secret = newSecret();
  const other = newSecret();
  const body = event();
  const headers = referenceHeaders(secret, body);
  const good = headers["webhook-signature"];
  const wrong = referenceHeaders(other, body, { id: headers["webhook-id"], at: Number(headers["webhook-timestamp"]) })["webhook-signature"];
  const cases = {
    [`${wrong} ${good}`]: true,
    [`${good} ${wrong}`]: true,
    [`v1a,${good.slice(3)} ${good}`]: true,
    [wrong]: false,
    [`v1a,${good.slice(3)}`]: false,
    [`v2,${good.slice(3)}`]: false,
    [`${wrong} v1,${"A".repeat(44)}`]: false,
    ["v1,"]: false,
  };
  for (const [signature, expected] of Object.entries(cases)) {
    const variant = { ...headers, "webhook-signature": signature };
    assert.equal(ours(secret, body, variant), expected, signature);
    assert.equal(referenceAccepts(secret, body, variant), expected, `reference: ${signature}`);
  }
});

test("during rotation the service signs with both secrets; either receiver secret verifies", () => {
  const oldSecret = newSecret();
  const newOne = newSecret();
  const body = event();
  const id = "msg_rotation";
  const at = nowSeconds();
  const both = `${signEvent(oldSecret, id, at, body)} ${signEvent(newOne, id, at, body)}`;
  const headers = { "webhook-id": id, "webhook-timestamp": String(at), "webhook-signature": both };
  for (const secret of [oldSecret, newOne]) {
    assert.ok(ours(secret, body, headers));
    assert.ok(referenceAccepts(secret, body, headers));
  }
  // A receiver rotating its own configuration holds both secrets.
  const single = { ...headers, "webhook-signature": signEvent(newOne, id, at, body) };
  assert.ok(new EventVerifier([oldSecret, newOne]).verify(body, single));
  assert.throws(() => new EventVerifier([newSecret()]).verify(body, single), EventSignatureError);
});

test("tampering with the body, id or timestamp is refused, as by the reference library", () => {
  const secret = newSecret();
  const body = event();
  const headers = referenceHeaders(secret, body);
  const variants = [
    [body.replace("reader-1", "reader-2"), headers],
    [`${body} `, headers],
    [body, { ...headers, "webhook-id": `${headers["webhook-id"]}x` }],
    [body, { ...headers, "webhook-timestamp": String(Number(headers["webhook-timestamp"]) - 1) }],
  ];
  for (const [variantBody, variantHeaders] of variants) {
    assert.equal(ours(secret, variantBody, variantHeaders), false);
    assert.equal(referenceAccepts(secret, variantBody, variantHeaders), false);
  }
  assert.throws(() => new EventVerifier(newSecret()).verify(body, headers), EventSignatureError);
});

test("the timestamp must be within 5 minutes either way", () => {
  const secret = newSecret();
  const body = event();
  for (const [offset, accepted] of [[-299, true], [299, true], [-301, false], [301, false], [-86400, false]]) {
    const headers = referenceHeaders(secret, body, { at: nowSeconds() + offset });
    assert.equal(ours(secret, body, headers), accepted, `offset ${offset}`);
    assert.equal(referenceAccepts(secret, body, headers), accepted, `reference, offset ${offset}`);
  }
  const old = referenceHeaders(secret, body, { at: nowSeconds() - 400 });
  assert.throws(() => new EventVerifier(secret).verify(body, old), EventTimestampError);
  const clock = () => nowSeconds() - 400; // an injected clock moves the window
  assert.ok(new EventVerifier(secret, { clock }).verify(body, old));
  // Not ^[0-9]{1,15}$: malformed, as in the Python SDK.
  const junk = { ...old, "webhook-timestamp": "soon" };
  assert.throws(() => new EventVerifier(secret).verify(body, junk), EventMalformed);
});

test("missing headers, parsed bodies and bad secrets", () => {
  const secret = newSecret();
  const body = event();
  const headers = referenceHeaders(secret, body);
  for (const name of Object.keys(headers)) {
    const { [name]: _, ...missing } = headers;
    assert.throws(() => new EventVerifier(secret).verify(body, missing), EventMalformed);
  }
  // Header names in any case, and a Fetch Headers object.
  const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
  assert.ok(new EventVerifier(secret).verify(body, upper));
  assert.ok(new EventVerifier(secret).verify(body, new Headers(headers)));
  assert.throws(() => new EventVerifier(secret).verify(JSON.parse(body), headers), TypeError);
  assert.throws(() => new EventVerifier(""), TypeError);
  assert.throws(() => new EventVerifier([]), TypeError);
  // Signed, but not JSON.
  const text = "not json";
  assert.throws(() => new EventVerifier(secret).verify(text, referenceHeaders(secret, text)), EventMalformed);
});

function revocationSetup() {
  const key = makeKey();
  const clock = manualClock(nowSeconds());
  const verifier = new TokenVerifier({
    jwksUrl: "https://entitlements.magazine.test/.well-known/jwks.json",
    issuer: ISSUER,
    audience: AUDIENCE,
    clock,
    fetch: fakeFetch({ keys: [key.jwk] }),
  });
  const issued = token(key, claims({ iat: clock.now - 30, exp: clock.now + 270 }));
  return { verifier, issued, clock };
}

test("the receiver applies not_before: earlier tokens of that account are refused at once", async () => {
  const { verifier, issued, clock } = revocationSetup();
  const secret = newSecret();
  const seen = [];
  const receiver = new EventReceiver({ secret, verifier, onEvent: (e, id) => seen.push([e.type, id]) });
  assert.ok(await verifier.verify(issued));

  const other = event("reader-2", clock.now);
  await receiver.receive(other, referenceHeaders(secret, other, { id: "msg_1" }));
  assert.ok(await verifier.verify(issued), "another account's event changed nothing");
  const nothing = event("reader-1", null);
  await receiver.receive(nothing, referenceHeaders(secret, nothing, { id: "msg_2" }));
  assert.ok(await verifier.verify(issued), "an event without not_before revokes nothing");

  const ban = event("reader-1", clock.now - 10);
  await receiver.receive(ban, referenceHeaders(secret, ban, { id: "msg_3" }));
  await assert.rejects(verifier.verify(issued), TokenRevoked);
  assert.deepEqual(seen.map(([, id]) => id), ["msg_1", "msg_2", "msg_3"]);

  // A forged event revokes nothing and reaches no handler.
  const { verifier: v2, issued: t2 } = revocationSetup();
  const forgedReceiver = new EventReceiver({ secret, verifier: v2 });
  const forged = event("reader-1", nowSeconds());
  await assert.rejects(forgedReceiver.receive(forged, referenceHeaders(newSecret(), forged)), EventSignatureError);
  assert.ok(await v2.verify(t2));
});

async function post(url, body, headers) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("the receiver's handler on a plain node:http server: 204, or 400 problem+json", async () => {
  const { verifier, issued, clock } = revocationSetup();
  const secret = newSecret();
  const handle = new EventReceiver({ secret, verifier }).handler();
  const server = createServer((req, res) => handle(req, res));
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}/events`;
  try {
    const ban = event("reader-1", clock.now);
    const refused = await post(url, ban, referenceHeaders(newSecret(), ban));
    assert.equal(refused.status, 400);
    assert.equal(JSON.parse(refused.body).code, "event_signature");
    assert.ok(await verifier.verify(issued));

    const accepted = await post(url, ban, referenceHeaders(secret, ban));
    assert.equal(accepted.status, 204);
    await assert.rejects(verifier.verify(issued), TokenRevoked);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
