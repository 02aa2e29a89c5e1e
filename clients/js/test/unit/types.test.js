// The TypeScript declarations: `tsc --noEmit` over them and test/types-check.ts finds no error
// (so every `@ts-expect-error` there is still refused), and they declare exactly what the
// JavaScript exports: every export, and every method and getter of every exported class.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import ts from 'typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));
const ENTRIES = [
  { module: '../../src/index.js', declarations: 'src/index.d.ts' },
  { module: '../../src/storage/file.js', declarations: 'src/storage/file.d.ts' },
];

test('tsc --noEmit finds no type error in the declarations and test/types-check.ts', async () => {
  const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));
  try {
    await promisify(execFile)(process.execPath, [tsc, '--project', root, '--pretty', 'false'], { cwd: root });
  } catch (error) {
    assert.fail(`tsc found errors:\n${error.stdout}${error.stderr}`);
  }
});

for (const { module, declarations } of ENTRIES) {
  test(`${declarations} declares every export of ${module.replace('../../', '')}, and nothing it lacks`, async () => {
    const runtime = await import(module);
    const declared = await declaredExports(declarations);
    assert.deepEqual([...declared.keys()].sort(), Object.keys(runtime).sort());
  });

  test(`${declarations} declares every method and getter of the classes it exports`, async () => {
    const runtime = await import(module);
    for (const [name, members] of await declaredExports(declarations)) {
      if (!members) continue; // not a class
      const actual = Object.getOwnPropertyNames(runtime[name].prototype).filter((key) => key !== 'constructor');
      const statics = Object.getOwnPropertyNames(runtime[name]).filter((key) => !['length', 'name', 'prototype'].includes(key));
      assert.deepEqual([...members.instance].sort(), actual.sort(), `${name}'s methods and getters`);
      assert.deepEqual([...members.statics].sort(), statics.sort(), `${name}'s static members`);
    }
  });
}

/** Export name -> its class's declared members (null for a function or a constant), value exports only. */
async function declaredExports(path) {
  const source = ts.createSourceFile(path, await readFile(new URL(`../../${path}`, import.meta.url), 'utf8'), ts.ScriptTarget.Latest);
  const exported = (node) => node.modifiers?.some((modifier) => modifier.kind === ts.SyntaxKind.ExportKeyword);
  const found = new Map();
  for (const statement of source.statements) {
    if (!exported(statement)) continue;
    if (ts.isClassDeclaration(statement)) found.set(statement.name.text, classMembers(statement));
    else if (ts.isFunctionDeclaration(statement)) found.set(statement.name.text, null);
    else if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) found.set(declaration.name.text, null);
    }
  }
  return found;
}

/** A class's methods and accessors (what lives on its prototype) and its static members. */
function classMembers(node) {
  const instance = new Set();
  const statics = new Set();
  for (const member of node.members) {
    if (!member.name) continue; // the constructor
    const isStatic = member.modifiers?.some((modifier) => modifier.kind === ts.SyntaxKind.StaticKeyword);
    if (isStatic) statics.add(member.name.text);
    // Declared properties are instance fields (set in the constructor), not on the prototype.
    else if (!ts.isPropertyDeclaration(member)) instance.add(member.name.text);
  }
  return { instance, statics };
}
