// Where the live Temporal test leaves the history of the run it made, for the replay test to replay.
import { fileURLToPath } from 'node:url';

export const RECORDED_HISTORY = fileURLToPath(new URL('fixtures/live-run-history.json', import.meta.url));
