import { UserError } from '../util/errors.js';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/** An in-memory DuckDB database for one build; close() releases it. */
export interface DuckSession {
  connection: DuckDBConnection;
  close(): void;
}

export interface DuckOptions {
  /** Where DuckDB spills joins and aggregations that exceed its memory limit. */
  tempDirectory?: string;
  /** DuckDB memory_limit, e.g. "4GB" (DuckDB's default is 80% of RAM). */
  memoryLimit?: string;
  threads?: number;
}

/** DuckDB's size syntax, e.g. 8GB, 512 MiB, 1.5TB. */
const MEMORY_LIMIT_PATTERN = /^\d+(\.\d+)?\s*(B|[KMGT]i?B)$/i;

export async function openDuck(options: DuckOptions = {}): Promise<DuckSession> {
  if (options.memoryLimit !== undefined && !MEMORY_LIMIT_PATTERN.test(options.memoryLimit.trim())) {
    throw new UserError(`--memory-limit must be a size such as 8GB, 512MB or 2GiB, got "${options.memoryLimit}"`);
  }
  const config: Record<string, string> = {};
  if (options.tempDirectory) config.temp_directory = options.tempDirectory;
  if (options.memoryLimit) config.memory_limit = options.memoryLimit;
  if (options.threads) config.threads = String(options.threads);
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(':memory:', config);
  } catch (err) {
    throw new UserError(`cannot start DuckDB with ${JSON.stringify(config)}: ${(err as Error).message.split('\n')[0]}`);
  }
  const connection = await instance.connect();
  return {
    connection,
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** A SQL string literal. */
export function sqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** A SQL identifier, quoted. */
export function sqlIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Runs a multi-statement script one statement at a time (so an error names the failing statement). */
export async function runScript(connection: DuckDBConnection, sql: string): Promise<void> {
  const statements = await connection.extractStatements(sql);
  for (let i = 0; i < statements.count; i++) {
    const prepared = await statements.prepare(i);
    try {
      await prepared.run();
    } finally {
      prepared.destroySync();
    }
  }
}

/** The first line of a DuckDB error message, without DuckDB's "LINE 1: ..." context. */
export function duckMessage(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}
