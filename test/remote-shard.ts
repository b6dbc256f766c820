// A search shard run as a worker on another machine would run it: in its own process, on a run
// directory that has the shared files (config.json, the plan's problems, the models) but no database.
// Usage: remote-shard.ts '<SearchShardInput as JSON>'
import { MockActivityEnvironment } from '@temporalio/testing';
import { activities } from '../activities/index.ts';
import { releaseModels } from '../activities/models.ts';
import { SearchShardInputSchema } from '../workflows/types.ts';

const input = SearchShardInputSchema.parse(JSON.parse(process.argv[2] ?? ''));
const result = await new MockActivityEnvironment().run(activities.searchShard, input);
await releaseModels();
process.stdout.write(JSON.stringify(result));
