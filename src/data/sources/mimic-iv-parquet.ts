import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { checkGzipMagic, locateMimicTables, losslessSelect } from './mimic-iv-tables.js';
import { openDuck, sqlString, duckMessage } from '../duckdb.js';
import { gzipProblem } from '../../util/gzip.js';
import { ensureWritableDir } from '../../util/fs.js';
import { UserError } from '../../util/errors.js';

/**
 * Converts the tables the cohort needs to Parquet once (outDir/hosp/*.parquet, outDir/icu/*.parquet), so later
 * builds read columnar files instead of re-parsing gzip CSV. DuckDB streams each table; memory stays bounded.
 */
export async function convertMimicToParquet(mimicDir: string, outDir: string, log: (line: string) => void = () => {}): Promise<string[]> {
  const tables = locateMimicTables(mimicDir).filter((t) => t.format === 'csv');
  await checkGzipMagic(tables);
  const written: string[] = [];
  const session = await openDuck({ tempDirectory: join(outDir, '.duckdb-tmp') });
  try {
    for (const table of tables) {
      const folder = join(outDir, table.spec.module);
      await ensureWritableDir(folder, 'Parquet output folder');
      const target = join(folder, `${table.spec.name}.parquet`);
      const partial = `${target}.partial`;
      const started = Date.now();
      try {
        await session.connection.run(`COPY (${losslessSelect(table)}) TO ${sqlString(partial)} (FORMAT parquet, COMPRESSION zstd)`);
      } catch (err) {
        await rm(partial, { force: true });
        const problem = table.gzip ? await gzipProblem(table.path) : null;
        if (problem) throw new UserError(`corrupt gzip file ${table.path}: ${problem}`);
        throw new UserError(`cannot convert ${table.path}: ${duckMessage(err)}`);
      }
      // DuckDB stops silently at a cut-off gzip stream, so the source is checked before the copy is kept.
      const problem = table.gzip ? await gzipProblem(table.path) : null;
      if (problem) {
        await rm(partial, { force: true });
        throw new UserError(`corrupt gzip file ${table.path}: ${problem}`);
      }
      await rename(partial, target);
      written.push(target);
      log(`${table.spec.module}/${table.spec.name}: ${target} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  } finally {
    session.close();
    await rm(join(outDir, '.duckdb-tmp'), { recursive: true, force: true });
  }
  return written;
}
