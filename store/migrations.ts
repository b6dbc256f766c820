/**
 * The run database's schema as numbered migrations, applied in order and recorded in
 * `PRAGMA user_version`. Never edit a released migration: append a new one.
 */

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'runs, iterations, models, problems, searches, nodes, training examples, pairs, evaluations',
    sql: `
      CREATE TABLE runs (
        id          TEXT PRIMARY KEY,
        config_json TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        created_at  TEXT NOT NULL
      );
      CREATE TABLE models (
        id         INTEGER PRIMARY KEY,
        run_id     TEXT NOT NULL REFERENCES runs(id),
        kind       TEXT NOT NULL CHECK (kind IN ('policy', 'prm')),
        path       TEXT NOT NULL,
        sha256     TEXT NOT NULL,
        parent_id  INTEGER REFERENCES models(id),
        iteration  INTEGER NOT NULL,
        metrics_json TEXT NOT NULL DEFAULT '{}',
        UNIQUE (run_id, kind, iteration)
      );
      CREATE TABLE iterations (
        run_id         TEXT NOT NULL REFERENCES runs(id),
        number         INTEGER NOT NULL,
        status         TEXT NOT NULL CHECK (status IN ('running', 'done')),
        policy_model_id INTEGER REFERENCES models(id),
        prm_model_id   INTEGER REFERENCES models(id),
        promoted       INTEGER,
        promotion_reason TEXT,
        PRIMARY KEY (run_id, number)
      );
      CREATE TABLE problems (
        id         INTEGER PRIMARY KEY,
        task       TEXT NOT NULL,
        split      TEXT NOT NULL,
        question   TEXT NOT NULL,
        answer     TEXT NOT NULL,
        difficulty INTEGER,
        UNIQUE (task, split, question)
      );
      CREATE TABLE searches (
        id              INTEGER PRIMARY KEY,
        run_id          TEXT NOT NULL REFERENCES runs(id),
        iteration       INTEGER NOT NULL,
        problem_id      INTEGER NOT NULL REFERENCES problems(id),
        policy_model_id INTEGER REFERENCES models(id),
        prm_model_id    INTEGER REFERENCES models(id),
        algorithm       TEXT NOT NULL,
        budget          INTEGER,
        stats_json      TEXT NOT NULL,
        answer          TEXT,
        correct         INTEGER,
        UNIQUE (run_id, iteration, problem_id, algorithm)
      );
      CREATE TABLE nodes (
        search_id          INTEGER NOT NULL REFERENCES searches(id),
        node_index         INTEGER NOT NULL,
        parent_index       INTEGER,
        depth              INTEGER NOT NULL,
        step               TEXT NOT NULL,
        visits             INTEGER NOT NULL,
        value              REAL NOT NULL,
        prm_score          REAL,
        state              TEXT NOT NULL CHECK (state IN ('open', 'continue', 'end')),
        answer             TEXT,
        correct            INTEGER,
        generated_tokens   INTEGER NOT NULL,
        value_target       REAL,
        reasoning_distance INTEGER,
        mc_label           REAL,
        PRIMARY KEY (search_id, node_index)
      );
      CREATE TABLE sft_examples (
        id         INTEGER PRIMARY KEY,
        run_id     TEXT NOT NULL REFERENCES runs(id),
        iteration  INTEGER NOT NULL,
        search_id  INTEGER NOT NULL REFERENCES searches(id),
        node_index INTEGER NOT NULL,
        prompt     TEXT NOT NULL,
        completion TEXT NOT NULL,
        value      REAL NOT NULL,
        UNIQUE (run_id, iteration, search_id, node_index),
        FOREIGN KEY (search_id, node_index) REFERENCES nodes(search_id, node_index)
      );
      CREATE TABLE prm_examples (
        id         INTEGER PRIMARY KEY,
        run_id     TEXT NOT NULL REFERENCES runs(id),
        iteration  INTEGER NOT NULL,
        search_id  INTEGER NOT NULL REFERENCES searches(id),
        node_index INTEGER NOT NULL,
        prompt     TEXT NOT NULL,
        steps_json TEXT NOT NULL,
        target     REAL NOT NULL CHECK (target >= 0 AND target <= 1),
        source     TEXT NOT NULL CHECK (source IN ('quality-value', 'monte-carlo')),
        UNIQUE (run_id, iteration, search_id, node_index, source),
        FOREIGN KEY (search_id, node_index) REFERENCES nodes(search_id, node_index)
      );
      CREATE TABLE preference_pairs (
        id             INTEGER PRIMARY KEY,
        run_id         TEXT NOT NULL REFERENCES runs(id),
        iteration      INTEGER NOT NULL,
        search_id      INTEGER NOT NULL REFERENCES searches(id),
        parent_index   INTEGER NOT NULL,
        chosen_index   INTEGER NOT NULL,
        rejected_index INTEGER NOT NULL,
        prompt         TEXT NOT NULL,
        chosen         TEXT NOT NULL,
        rejected       TEXT NOT NULL,
        chosen_q       REAL NOT NULL,
        rejected_q     REAL NOT NULL,
        UNIQUE (run_id, iteration, search_id, parent_index)
      );
      CREATE TABLE evaluations (
        id        INTEGER PRIMARY KEY,
        run_id    TEXT NOT NULL REFERENCES runs(id),
        iteration INTEGER NOT NULL,
        model_id  INTEGER REFERENCES models(id),
        method    TEXT NOT NULL,
        split     TEXT NOT NULL,
        metric    TEXT NOT NULL,
        value     REAL NOT NULL,
        UNIQUE (run_id, iteration, model_id, method, split, metric)
      );
      CREATE INDEX searches_by_iteration ON searches (run_id, iteration);
    `,
  },
  {
    version: 2,
    description: 'activity attempts: start, end, outcome (time per stage)',
    sql: `
      CREATE TABLE activity_attempts (
        id         INTEGER PRIMARY KEY,
        run_id     TEXT NOT NULL REFERENCES runs(id),
        activity   TEXT NOT NULL,
        iteration  INTEGER NOT NULL,
        attempt    INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        ended_at   TEXT,
        outcome    TEXT CHECK (outcome IN ('completed', 'failed', 'cancelled')),
        error      TEXT
      );
      CREATE INDEX activity_attempts_by_iteration ON activity_attempts (run_id, iteration);
    `,
  },
  {
    version: 3,
    description: 'activity attempts recorded from files (the inference and training queues do not open the database): a unique key each',
    sql: `
      ALTER TABLE activity_attempts ADD COLUMN key TEXT;
      CREATE UNIQUE INDEX activity_attempts_by_key ON activity_attempts (key);
    `,
  },
  {
    version: 4,
    description: 'policy-gradient examples: a sampled step or chain with its advantage (train/objectives/: grpo, tree)',
    sql: `
      CREATE TABLE pg_examples (
        id         INTEGER PRIMARY KEY,
        run_id     TEXT NOT NULL REFERENCES runs(id),
        iteration  INTEGER NOT NULL,
        search_id  INTEGER NOT NULL REFERENCES searches(id),
        node_index INTEGER NOT NULL,
        prompt     TEXT NOT NULL,
        completion TEXT NOT NULL,
        advantage  REAL NOT NULL,
        weight     REAL NOT NULL,
        UNIQUE (run_id, iteration, search_id, node_index)
      );
    `,
  },
  {
    version: 5,
    description: "held-out answers: each evaluated policy's greedy answer per problem (promotion compares policies problem by problem)",
    sql: `
      CREATE TABLE held_out_answers (
        run_id    TEXT NOT NULL REFERENCES runs(id),
        iteration INTEGER NOT NULL,
        model_id  INTEGER NOT NULL REFERENCES models(id),
        level     TEXT NOT NULL,
        question  TEXT NOT NULL,
        correct   INTEGER NOT NULL,
        PRIMARY KEY (run_id, iteration, model_id, level, question)
      );
    `,
  },
  {
    version: 6,
    description: 'model retention: a superseded model whose file was deleted keeps its row, lineage and metrics',
    sql: `
      ALTER TABLE models ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    `,
  },
];

export const LATEST_VERSION = MIGRATIONS.at(-1)?.version ?? 0;
