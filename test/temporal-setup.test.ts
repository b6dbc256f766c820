// Arbor's search attributes on a configured server: added when missing, or the exact command to add them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { registerSearchAttributes } from '../runtime/temporal.ts';

const { IndexedValueType } = proto.temporal.api.enums.v1;

function fakeConnection(existing: Record<string, number>, refuse = false) {
  const added: Record<string, number>[] = [];
  const operatorService = {
    listSearchAttributes: async () => ({ customAttributes: existing }),
    addSearchAttributes: async (request: { searchAttributes: Record<string, number> }) => {
      if (refuse) throw new Error('PermissionDenied: request unauthorized');
      added.push(request.searchAttributes);
      return {};
    },
  };
  return { connection: { operatorService } as unknown as Connection, added };
}

test('the missing search attributes are added with their types; present ones are left alone', async () => {
  const { connection, added } = fakeConnection({ ArborIteration: IndexedValueType.INDEXED_VALUE_TYPE_INT });
  assert.equal(await registerSearchAttributes(connection, 'research'), null);
  assert.deepEqual(added, [{ ArborBestAccuracy: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE, ArborPolicyModel: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD }]);
  const complete = fakeConnection({ ArborIteration: 3, ArborBestAccuracy: 4, ArborPolicyModel: 2 });
  assert.equal(await registerSearchAttributes(complete.connection, 'research'), null);
  assert.deepEqual(complete.added, []);
});

test('a server that refuses gets the exact command, before the run starts', async () => {
  const { connection } = fakeConnection({}, true);
  const message = await registerSearchAttributes(connection, 'research');
  assert.ok(message !== null);
  assert.match(message, /PermissionDenied/);
  assert.ok(
    message.includes('temporal operator search-attribute create --namespace research --name ArborIteration --type Int --name ArborBestAccuracy --type Double --name ArborPolicyModel --type Keyword'),
    message,
  );
});
