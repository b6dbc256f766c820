/**
 * The connection to Temporal (settings: temporal.config.ts). Where Arbor finds a server, in order:
 *  1. a configured server: `@temporalio/envconfig` (TOML profiles, TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 *     TEMPORAL_API_KEY, TLS variables; `--profile` picks a profile);
 *  2. a local dev server started through `@temporalio/testing` with a persistent database file and
 *     the Web UI: the `temporal` CLI at TEMPORAL_CLI_PATH, else the one the SDK downloads (needs a network);
 *  3. none: the caller says so in one line and runs inline.
 */
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import proto from '@temporalio/proto';
import { TEMPORAL_SETTINGS } from '../temporal.config.ts';
import { ARBOR_SEARCH_ATTRIBUTES } from '../workflows/names.ts';

export interface TemporalTarget {
  /** How the server was found, for one line of output. */
  description: string;
  namespace: string;
  client: Client;
  /** Connection for workers in this process. */
  workerConnection: NativeConnection;
  /** Null when Arbor's search attributes are registered (added here when missing), else what to run to add them. */
  searchAttributesMissing(): Promise<string | null>;
  close(): Promise<void>;
}

export interface ResolveOptions {
  profile?: string;
  /** Start a local dev server when nothing is configured (its database goes here). */
  devServerDatabase?: string;
  /** Give up connecting after this long. */
  connectTimeoutMs?: number;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms).unref())]);
}

/** The configured or started Temporal server, or a one-line reason why there is none. */
export async function resolveTemporal(options: ResolveOptions = {}): Promise<TemporalTarget | { unavailable: string }> {
  const timeout = options.connectTimeoutMs ?? TEMPORAL_SETTINGS.connectTimeoutMs;
  const config = loadClientConnectConfig({ profile: options.profile });
  const address = config.connectionOptions.address;
  if (address !== undefined) {
    const namespace = config.namespace ?? 'default';
    try {
      const connection = await withTimeout(Connection.connect(config.connectionOptions), timeout, `Temporal at ${address}`);
      const workerConnection = await withTimeout(NativeConnection.connect(config.connectionOptions), timeout, `Temporal at ${address}`);
      return {
        description: `Temporal at ${address} (namespace ${namespace})`,
        namespace,
        client: new Client({ connection, namespace }),
        workerConnection,
        searchAttributesMissing: () => registerSearchAttributes(connection, namespace),
        close: async () => {
          await connection.close();
          await workerConnection.close();
        },
      };
    } catch (error) {
      return { unavailable: `cannot reach the configured Temporal server at ${address}: ${error instanceof Error ? error.message : String(error)}` };
    }
  }
  if (options.devServerDatabase === undefined) return { unavailable: 'no Temporal server is configured (set TEMPORAL_ADDRESS or a profile)' };
  const cliPath = process.env.TEMPORAL_CLI_PATH;
  try {
    const env = await withTimeout(
      TestWorkflowEnvironment.createLocal({
        server: {
          ...(cliPath === undefined ? {} : { executable: { type: 'existing-path', path: cliPath } }),
          dbFilename: options.devServerDatabase,
          ui: TEMPORAL_SETTINGS.devServer.ui,
          // The dev server registers them as it starts.
          searchAttributes: Object.values(ARBOR_SEARCH_ATTRIBUTES),
        },
      }),
      cliPath === undefined ? TEMPORAL_SETTINGS.devServer.downloadTimeoutMs : TEMPORAL_SETTINGS.devServer.startTimeoutMs,
      'starting a local Temporal dev server',
    );
    return {
      description: `local Temporal dev server (${cliPath ?? 'downloaded CLI'}, database ${options.devServerDatabase})`,
      namespace: env.namespace ?? 'default',
      client: env.client,
      workerConnection: env.nativeConnection,
      searchAttributesMissing: async () => null,
      close: () => env.teardown(),
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // The SDK's download error is a long URL chain; what the user needs is the cause and the fix.
    const why = /download/i.test(message) ? 'the SDK could not download the Temporal CLI (offline?)' : (message.split('\n')[0] ?? '').slice(0, 160);
    const fix = cliPath === undefined ? 'set TEMPORAL_ADDRESS for a server or TEMPORAL_CLI_PATH for a local temporal CLI' : `check TEMPORAL_CLI_PATH=${cliPath}`;
    return { unavailable: `no Temporal server configured and none could be started: ${why}; ${fix}` };
  }
}

const INDEXED_TYPES = {
  INT: { indexed: proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT, cli: 'Int' },
  DOUBLE: { indexed: proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE, cli: 'Double' },
  KEYWORD: { indexed: proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD, cli: 'Keyword' },
} as const;

/**
 * Arbor's search attributes on a configured server: added through the operator service when missing
 * (a first run against a fresh namespace would otherwise fail on ArborIteration); where the server
 * refuses (a managed namespace), the exact command that adds them.
 */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<string | null> {
  const keys = Object.values(ARBOR_SEARCH_ATTRIBUTES);
  const typeOf = (key: (typeof keys)[number]) => INDEXED_TYPES[key.type as keyof typeof INDEXED_TYPES];
  const command = (missing: typeof keys): string =>
    `temporal operator search-attribute create --namespace ${namespace} ${missing.map((key) => `--name ${key.name} --type ${typeOf(key).cli}`).join(' ')}`;
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = keys.filter((key) => !(key.name in (customAttributes ?? {})));
    if (missing.length === 0) return null;
    try {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((key) => [key.name, typeOf(key).indexed])),
      });
      return null;
    } catch (error) {
      return `namespace ${namespace} lacks Arbor's search attributes and the server did not let Arbor add them (${error instanceof Error ? error.message : String(error)}); add them once with:\n  ${command(missing)}`;
    }
  } catch (error) {
    return `cannot list the search attributes of namespace ${namespace} (${error instanceof Error ? error.message : String(error)}); if they are missing, add them once with:\n  ${command(keys)}`;
  }
}
