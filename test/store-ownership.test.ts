// The store owns its database: outside store/, no code prepares SQL, opens the database file or
// touches a connection. Tests are the exception: they check what the store wrote with SQL of their own.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('..', import.meta.url).pathname;
const SKIPPED = new Set(['node_modules', 'native', 'runs', 'store', 'test', '.git']);
const REACHES_THE_CONNECTION = [/\.prepare\(/, /\.pragma\(/, /from 'better-sqlite3'/, /store\/database\.ts'/, /\bstore\.db\b/];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.isDirectory()) return dir === ROOT && SKIPPED.has(entry.name) ? [] : sources(join(dir, entry.name));
    return /\.(ts|js)$/.test(entry.name) ? [join(dir, entry.name)] : [];
  });
}

test('no file outside store/ prepares SQL or reaches the database connection', () => {
  const files = sources(ROOT);
  assert.ok(files.some((file) => file.endsWith('activities/search.ts')), 'the scan sees the sources');
  const offenders = files.flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .flatMap((line, index) => (REACHES_THE_CONNECTION.some((pattern) => pattern.test(line)) ? [`${relative(ROOT, file)}:${index + 1}: ${line.trim()}`] : [])),
  );
  assert.deepEqual(offenders, []);
});
