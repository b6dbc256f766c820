// The lint rule that keeps workflow code deterministic: Node built-ins are refused in workflows/ only.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ESLint } from 'eslint';

const eslint = new ESLint();

async function restrictedImportMessages(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('workflow lint rule', () => {
  test('refuses Node built-ins (with or without the node: prefix) in workflows/', async () => {
    for (const code of ["import { readFile } from 'node:fs/promises';\nexport const f = readFile;\n", "import os from 'os';\nexport const o = os;\n"]) {
      const messages = await restrictedImportMessages(code, 'workflows/run.ts');
      assert.equal(messages.length, 1, code);
      assert.match(messages[0] ?? '', /deterministic/);
    }
  });

  test('allows them elsewhere, and allows type-only activity imports in workflows/', async () => {
    assert.deepEqual(await restrictedImportMessages("import { readFile } from 'node:fs/promises';\nexport const f = readFile;\n", 'activities/run.ts'), []);
    assert.deepEqual(await restrictedImportMessages("import type * as activities from '../activities/index.ts';\nexport type A = typeof activities;\n", 'workflows/run.ts'), []);
  });
});
