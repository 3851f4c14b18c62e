// Strict JSON for tokens and the JWKS, shared with the Python SDK's rules: UTF-8 that must be
// valid, no byte order mark, no duplicate member names at any depth (parsers disagree on which
// duplicate wins, so a signed token could mean two things), no NaN/Infinity. JSON.parse alone
// keeps the last duplicate and TextDecoder silently drops a BOM, so this parses by hand.

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const PLAIN = /[^"\\\u0000-\u001f]*/y;
const HEX4 = /^[0-9A-Fa-f]{4}$/;
// Deeper nesting is refused, not a stack overflow (Python's json stops near this depth too).
const MAX_DEPTH = 1000;
const ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** Thrown for any input these rules refuse. */
export class JsonError extends Error {}

class Parser {
  constructor(text) {
    this.text = text;
    this.at = 0;
    this.depth = 0;
  }

  fail(why) {
    throw new JsonError(`${why} at ${this.at}`);
  }

  space() {
    const { text } = this;
    while (this.at < text.length) {
      const c = text.charCodeAt(this.at);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      this.at += 1;
    }
  }

  value() {
    this.space();
    const c = this.text[this.at];
    if (c === "{" || c === "[") {
      if (++this.depth > MAX_DEPTH) this.fail("nested too deeply");
      const value = c === "{" ? this.object() : this.array();
      this.depth -= 1;
      return value;
    }
    if (c === '"') return this.string();
    for (const [word, value] of [["true", true], ["false", false], ["null", null]]) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return value;
      }
    }
    NUMBER.lastIndex = this.at;
    const match = NUMBER.exec(this.text);
    if (!match) this.fail("unexpected character");
    this.at += match[0].length;
    const number = Number(match[0]);
    // 1e400 reads as Infinity: not a number JSON can carry, as in the Python SDK.
    if (!Number.isFinite(number)) this.fail("number out of range");
    return number;
  }

  object() {
    this.at += 1;
    const result = {};
    const names = new Set();
    this.space();
    if (this.text[this.at] === "}") {
      this.at += 1;
      return result;
    }
    for (;;) {
      this.space();
      if (this.text[this.at] !== '"') this.fail("expected a member name");
      const name = this.string();
      if (names.has(name)) this.fail(`duplicate member ${JSON.stringify(name)}`);
      names.add(name);
      this.space();
      if (this.text[this.at] !== ":") this.fail("expected ':'");
      this.at += 1;
      // defineProperty: a member named __proto__ stays data, as with JSON.parse.
      Object.defineProperty(result, name, {
        value: this.value(), enumerable: true, writable: true, configurable: true,
      });
      this.space();
      const c = this.text[this.at];
      this.at += 1;
      if (c === "}") return result;
      if (c !== ",") this.fail("expected ',' or '}'");
    }
  }

  array() {
    this.at += 1;
    const result = [];
    this.space();
    if (this.text[this.at] === "]") {
      this.at += 1;
      return result;
    }
    for (;;) {
      result.push(this.value());
      this.space();
      const c = this.text[this.at];
      this.at += 1;
      if (c === "]") return result;
      if (c !== ",") this.fail("expected ',' or ']'");
    }
  }

  string() {
    this.at += 1;
    let result = "";
    for (;;) {
      PLAIN.lastIndex = this.at;
      const run = PLAIN.exec(this.text)[0];
      result += run;
      this.at += run.length;
      const c = this.text[this.at];
      if (c === '"') {
        this.at += 1;
        // A lone surrogate escape (\ud800) is kept, as by JSON.parse and Python's json.
        return result;
      }
      if (c !== "\\") this.fail(c === undefined ? "unterminated string" : "control character in string");
      const escape = this.text[this.at + 1];
      if (escape === "u") {
        const hex = this.text.slice(this.at + 2, this.at + 6);
        if (!HEX4.test(hex)) this.fail("bad \\u escape");
        result += String.fromCharCode(Number.parseInt(hex, 16));
        this.at += 6;
      } else if (Object.hasOwn(ESCAPES, escape ?? "")) {
        result += ESCAPES[escape];
        this.at += 2;
      } else {
        this.fail("bad escape");
      }
    }
  }
}

/** Parse strict JSON text (see the module comment); throw JsonError. */
export function parseJson(text) {
  const parser = new Parser(text);
  const value = parser.value();
  parser.space();
  if (parser.at !== text.length) parser.fail("trailing characters");
  return value;
}

/** Decode strict UTF-8 bytes (no BOM) and parse them as a JSON object; throw JsonError. */
export function parseJsonObject(bytes) {
  let text;
  try {
    text = decoder.decode(bytes);
  } catch (cause) {
    throw new JsonError("not UTF-8", { cause });
  }
  const value = parseJson(text); // a BOM is not JSON whitespace: refused here
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new JsonError("not a JSON object");
  }
  return value;
}
