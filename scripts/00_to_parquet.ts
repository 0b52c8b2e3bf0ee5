/**
 * Converts the MIMIC-IV tables the cohort needs (hosp/patients, admissions, labevents, d_labitems;
 * icu/icustays, chartevents, d_items) from .csv.gz to Parquet once, with DuckDB, keeping the hosp/ and icu/
 * layout. `backdoor cohort mimic-iv --mimic-dir <out>` then reads the Parquet copy, which is much faster
 * than re-parsing gzip CSV (full chartevents is over 300 million rows).
 *
 *   node dist/scripts/00_to_parquet.js --mimic-dir /data/mimic-iv-2.2 --out /data/mimic-iv-2.2-parquet
 */
import { parseArgs } from 'node:util';
import { convertMimicToParquet } from '../src/data/sources/mimic-iv-parquet.js';
import { UserError } from '../src/util/errors.js';

const { values } = parseArgs({ options: { 'mimic-dir': { type: 'string' }, out: { type: 'string' } } });
if (!values['mimic-dir'] || !values.out) {
  process.stderr.write('usage: node dist/scripts/00_to_parquet.js --mimic-dir <MIMIC-IV folder> --out <Parquet folder>\n');
  process.exit(2);
}
try {
  const written = await convertMimicToParquet(values['mimic-dir'], values.out, (line) => process.stdout.write(line + '\n'));
  process.stdout.write(`wrote ${written.length} Parquet tables under ${values.out}\n`);
} catch (err) {
  if (err instanceof UserError) {
    process.stderr.write(`00_to_parquet: error: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
