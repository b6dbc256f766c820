/**
 * What a policy objective is: one module per objective (sft.ts, dpo.ts, …) owns its settings, how an
 * iteration's stored trees become its training rows, the trainer format and flags those rows are
 * trained with, and its TRL-format export. The pipeline reaches them only through the registry
 * (index.ts), so it never knows which objective runs. Pure: the store is reached through its methods.
 */
import type { RunStore } from '../../store/run-store.ts';
import type { DataSettings } from '../../workflows/config.ts';
import type { Objective as TrainerFormat } from '../schema.ts';
import type { TrainOptions } from '../trainer.ts';

/** What building an objective's rows reads: the iteration's stored, labelled searches and the run's settings. */
export interface RowsContext<Settings> {
  store: RunStore;
  iteration: number;
  /** The policy's prompt for a question, as text. */
  promptOf: (question: string) => string;
  delimiter: string;
  data: DataSettings;
  settings: Settings;
}

/** An objective's rows for the trainer, and what they say of the iteration (IterationRecord.training). */
export interface ObjectiveRows {
  rows: unknown[];
  metrics: Record<string, number>;
}

/** The trainer flags an objective sets (beyond the common train settings). */
export type ObjectiveFlags = Partial<Pick<TrainOptions, 'dpoBeta' | 'dpoSftWeight' | 'pgEpsilonLow' | 'pgEpsilonHigh' | 'pgKlBeta' | 'pgAggregation'>>;

export interface PolicyObjective<Settings> {
  /** The training file in the iteration's data directory. */
  file: string;
  /** The trainer's row format and loss (train/schema.ts). */
  format: TrainerFormat;
  rows(context: RowsContext<Settings>): ObjectiveRows;
  /** The trainer's flags, and the model record's metrics that say how it was trained. */
  trainer(settings: Settings): { flags: ObjectiveFlags; metrics: Record<string, unknown> };
  /** `arbor export`: a file of TRL-format rows (objectives that share a file share the export). */
  export: { file: string; rows(store: RunStore, iteration: number): unknown[] };
}
