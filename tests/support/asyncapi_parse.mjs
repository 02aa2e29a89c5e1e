// Parses AsyncAPI documents with the official parser (@asyncapi/parser, pinned in the root
// package.json), one Parser for all of them (loading it is most of the time), and prints a JSON
// list, one entry per document in the order given: {path, failed, diagnostics}, diagnostics being
// [{severity, code, message, path}] where severity 0 is an error, 1 a warning, 2 info, 3 a hint.
// A document fails when it has an error or does not parse; then the exit code is 1.
import { readFile } from "node:fs/promises";
import { Parser, fromFile } from "@asyncapi/parser";

const paths = process.argv.slice(2);
if (paths.length === 0) {
  console.error("usage: node asyncapi_parse.mjs DOCUMENT...");
  process.exit(2);
}
const parser = new Parser();
const results = [];
for (const path of paths) {
  await readFile(path); // a missing file is an error of its own, not a parser diagnostic
  const { document, diagnostics } = await fromFile(parser, path).parse();
  const found = diagnostics.map((d) => ({ severity: d.severity, code: String(d.code), message: d.message, path: d.path }));
  results.push({ path, failed: document === undefined || found.some((d) => d.severity === 0), diagnostics: found });
}
console.log(JSON.stringify(results));
process.exit(results.some((r) => r.failed) ? 1 : 0);
