// The README's ten-line example, run as written against a local JWKS and real tokens.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { claims, makeKey, token } from "./helpers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function example() {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const block = /## Ten lines\n\n```js\n([\s\S]*?)```/.exec(readme)[1];
  assert.ok(block.trim().split("\n").length <= 10, "the example is longer than ten lines");
  return block;
}

async function listen(server) {
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server.address().port;
}

async function freePort() {
  const server = createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function get(url, headers) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      const response = await fetch(url, { headers });
      return { status: response.status, body: await response.text() };
    } catch (error) {
      if (attempt > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50)); // the example is starting
    }
  }
}

test("the README example gates a route on `comment`", async () => {
  const key = makeKey();
  const jwks = createServer((req, res) => {
    res.writeHead(req.url === "/.well-known/jwks.json" ? 200 : 404, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ keys: [key.jwk] }));
  });
  const service = `http://127.0.0.1:${await listen(jwks)}`;
  const port = await freePort();
  // Run from the package folder: the example imports the package by its own name.
  const child = spawn(process.execPath, ["--input-type=module", "-e", example()], {
    cwd: root,
    env: { ...process.env, ENTITLEMENTS_URL: service, PORT: String(port) },
    stdio: ["ignore", "inherit", "inherit"],
  });
  try {
    const now = Math.floor(Date.now() / 1000);
    const good = token(key, claims({ iss: service, iat: now, exp: now + 300 }));
    const url = `http://127.0.0.1:${port}/comments`;
    const welcomed = await get(url, { authorization: `Bearer ${good}` });
    assert.deepEqual(welcomed, { status: 200, body: "Welcome, reader-1" });
    const anonymous = await get(url, {});
    assert.equal(anonymous.status, 401);
    const noComment = token(key, claims({ iss: service, iat: now, exp: now + 300, features: [] }));
    assert.equal((await get(url, { authorization: `Bearer ${noComment}` })).status, 403);
  } finally {
    child.kill();
    await new Promise((resolve) => jwks.close(resolve));
  }
});
