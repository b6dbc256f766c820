/**
 * Temporal settings (the connection itself: runtime/temporal.ts). Where the server is comes from
 * @temporalio/envconfig: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS variables or a
 * TOML profile; TEMPORAL_CLI_PATH names a `temporal` CLI for a local dev server.
 */
export const TEMPORAL_SETTINGS = {
  /** How long to wait for a configured server before running inline. */
  connectTimeoutMs: 5_000,
  devServer: {
    /** The Web UI beside the local dev server. */
    ui: true,
    /** Starting it from TEMPORAL_CLI_PATH, and when the SDK downloads the CLI first. */
    startTimeoutMs: 30_000,
    downloadTimeoutMs: 60_000,
  },
} as const;
