/**
 * Every activity of the pipeline, by the names workflows/types.ts declares (ActivityTypes).
 * Register this object with a worker, or call it through runtime/inline.ts.
 */
import type { ActivityTypes } from '../workflows/types.ts';
import { buildData } from './data.ts';
import { evaluateModels } from './evaluate.ts';
import { prepareRun } from './prepare.ts';
import { promote } from './promote.ts';
import { planIteration, searchShard } from './search.ts';
import { trainModel } from './train.ts';

export const activities: ActivityTypes = { prepareRun, planIteration, searchShard, buildData, trainModel, evaluateModels, promote };
