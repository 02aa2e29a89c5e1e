// TypeScript declarations from JSON Schemas, with json-schema-to-typescript (pinned in the root
// package.json). Reads {banner, schema} as JSON on stdin, writes the declarations to stdout.
// Run by tidings_local.protocol_docs (make protocol-docs), never by hand.
import { compile } from "json-schema-to-typescript";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { banner, schema } = JSON.parse(input);
const declarations = await compile(schema, schema.title, {
  bannerComment: banner,
  unreachableDefinitions: true,
  additionalProperties: false,
  strictIndexSignatures: true,
  format: false,
});
process.stdout.write(declarations);
