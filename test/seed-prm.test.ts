import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prefixLabels } from '../reward/verifiers.ts';
import { loadTask } from '../tasks/index.ts';

const arithmetic = loadTask({ kind: 'arithmetic' });

test('seed PRM labels: a prefix is good only while every step so far is valid', () => {
  assert.deepEqual(prefixLabels([true, true, false, true, false]), [1, 1, 0, 0, 0]);
  assert.deepEqual(prefixLabels([]), []);
  // 7+5*3-4: the second step is wrong (7+15=22), the third is a valid step from a wrong line.
  const steps = ['7+15-4', '21-4', '17', 'A: 17'];
  assert.deepEqual(prefixLabels(arithmetic.stepLabels?.('7+5*3-4', steps) ?? []), [1, 0, 0, 0]);
});
