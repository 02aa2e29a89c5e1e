// Parses an AsyncAPI document with the official parser (@asyncapi/parser, pinned in the root
// package.json) and prints its diagnostics as JSON: [{severity, code, message, path}], where
// severity 0 is an error (then the exit code is 1), 1 a warning, 2 info, 3 a hint.
import { readFile } from "node:fs/promises";
import { Parser, fromFile } from "@asyncapi/parser";

const path = process.argv[2];
if (!path) {
  console.error("usage: node asyncapi_parse.mjs DOCUMENT");
  process.exit(2);
}
await readFile(path); // a missing file is an error of its own, not a parser diagnostic
const { document, diagnostics } = await fromFile(new Parser(), path).parse();
const found = diagnostics.map((d) => ({ severity: d.severity, code: String(d.code), message: d.message, path: d.path }));
console.log(JSON.stringify(found));
process.exit(document === undefined || found.some((d) => d.severity === 0) ? 1 : 0);
