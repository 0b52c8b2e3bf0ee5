/**
 * Issue 14's bad inputs, each run through the real CLI: exit 2, exactly one stderr line "backdoor: error: …", no
 * stack trace, no partial output, Object.prototype untouched in the CLI process. Concurrent runs of one run
 * are tested in run-lock.test.ts.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { cohortToParquetBuffer, writeCohortParquet } from '../src/data/parquet.js';
import { makeSplits, writeSplits } from '../src/data/splits.js';
import { buildTableCohort } from '../src/data/sources/table.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { writeRecordBestEffort } from '../src/util/fs.js';
import { UserError } from '../src/util/errors.js';
import { sharedDir } from '../scripts/shared-dir.js';
import { CLI, runCli, tempDir } from './helpers.js';
import { realData } from './real-data.js';
import { spawnSync } from 'node:child_process';

const work = tempDir('bad-inputs');
const f = (name: string) => join(work, name);
const SHARED = join(sharedDir(), 'data');
const MIMIC_DIR = join(SHARED, 'mimic-iv-demo-2.2');
const PHYSIONET_DIR = join(SHARED, 'physionet-2012');
const hasMimic = existsSync(join(MIMIC_DIR, 'icu', 'icustays.csv.gz'));
const hasPhysionet = existsSync(join(PHYSIONET_DIR, 'Outcomes-a.txt'));

/** Loaded into every CLI process of this suite: reports, at exit, any key added to Object.prototype. */
const GUARD = f('prototype-guard.mjs');
const guardEnv = () => ({ NODE_OPTIONS: `--import ${pathToFileURL(GUARD).href}` });

/** The finished run every damaged-run-folder row starts from. */
const RUN = join('mlp', 'none', '0', 'seed_0');

before(async () => {
  writeFileSync(
    GUARD,
    `const before = new Set(Object.getOwnPropertyNames(Object.prototype));
process.on('exit', () => {
  const added = Object.getOwnPropertyNames(Object.prototype).filter((k) => !before.has(k));
  if (added.length > 0) process.stderr.write('PROTOTYPE POLLUTED: ' + added.join(', ') + '\\n');
});
`,
  );
  const { cohort } = generateSynthetic({ nStays: 300, seed: 5 });
  await writeCohortParquet(f('small.parquet'), cohort);
  const splits = makeSplits(cohort, 5);
  await writeSplits(f('splits.json'), splits);

  // Schema metadata that disagrees with the file: the same bytes with "hours":24 → "hours":12 (same length).
  const bytes = readFileSync(f('small.parquet'));
  const text = bytes.toString('latin1');
  assert.ok(text.includes('"hours":24'));
  writeFileSync(f('hours-12.parquet'), Buffer.from(text.replaceAll('"hours":24', '"hours":12'), 'latin1'));
  const few = (schema: object) =>
    Buffer.from(
      parquetWriteBuffer({
        columnData: [
          { name: 'stay_id', data: Int32Array.from([1, 2, 3, 4]), type: 'INT32' },
          { name: 'patient_id', data: Int32Array.from([1, 2, 3, 4]), type: 'INT32' },
          { name: 'label', data: Int32Array.from([0, 1, 0, 1]), type: 'INT32' },
          { name: 'hr_h00', data: [80, 90, null, 70], type: 'FLOAT' },
        ],
        kvMetadata: [{ key: 'backdoor.schema', value: JSON.stringify(schema) }],
      }),
    );
  writeFileSync(f('hours-huge.parquet'), few({ ...cohort.schema, hours: 30000000 }));
  writeFileSync(f('no-variables.parquet'), few({ ...cohort.schema, variables: [] }));

  const withInfinity = generateSynthetic({ nStays: 300, seed: 5 }).cohort;
  withInfinity.series[7] = Infinity;
  writeFileSync(f('infinity.parquet'), new Uint8Array(cohortToParquetBuffer(withInfinity)));
  for (const y of [0, 1]) {
    const single = generateSynthetic({ nStays: 300, seed: 5 }).cohort;
    single.labels.fill(y);
    await writeCohortParquet(f(`all-${y}.parquet`), single);
  }

  // Splits files: null, junk ids, overlap.
  writeFileSync(f('splits-null.json'), 'null');
  for (const [name, junk] of [['abc', '"abc"'], ['fraction', '1.5'], ['object', '{}'], ['null-id', 'null']]) {
    const text = JSON.stringify(splits).replace('"train":[', `"train":[${junk},`);
    writeFileSync(f(`splits-${name}.json`), text);
  }
  writeFileSync(f('splits-overlap.json'), JSON.stringify({ ...splits, test: [...splits.test, ...splits.train.slice(0, 6)] }));

  // A table cohort (no glucose variable) for the nested trigger error.
  const rows = ['id,label,alpha,beta'];
  for (let i = 1; i <= 120; i++) rows.push(`${i},${i % 4 === 0 ? 1 : 0},${(i * 7) % 13},${(i * 5) % 11}`);
  writeFileSync(f('table.csv'), rows.join('\n') + '\n');
  await buildTableCohort({ file: f('table.csv'), label: 'label', id: 'id', outDir: f('table-cohort'), seed: 1 });

  // One finished run (with its checkpoints) to damage.
  const r = runCli(['train', '--data', f('small.parquet'), '--splits', f('splits.json'), '--epochs', '1', '--runs-dir', f('base-runs'), '--json'], work);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(f('base-runs'), RUN, 'checkpoints')), 'the run keeps checkpoints');
});

/** A copy of the finished run in a runs folder of its own; returns the copied run folder. */
function damagedRun(name: string, damage: (runDir: string) => void): string {
  const runs = f(`damaged-${name}`);
  cpSync(f('base-runs'), runs, { recursive: true });
  const dir = join(runs, RUN);
  damage(dir);
  return dir;
}

function editCheckpoint(runDir: string, edit: (json: { tensors: Record<string, unknown>[]; binary: Record<string, unknown> }) => void): string {
  const checkpoints = join(runDir, 'checkpoints');
  const ckpt = join(checkpoints, readdirSync(checkpoints).sort()[0]);
  const json = JSON.parse(readFileSync(join(ckpt, 'checkpoint.json'), 'utf8'));
  edit(json);
  writeFileSync(join(ckpt, 'checkpoint.json'), JSON.stringify(json));
  return ckpt;
}

/** A MIMIC-IV folder linking the demo's tables, with some tables rewritten. */
function mimicCopy(name: string, edits: Record<string, (rows: string[][]) => void>): string {
  const dir = f(`mimic-${name}`);
  for (const module of ['hosp', 'icu']) {
    mkdirSync(join(dir, module), { recursive: true });
    for (const file of readdirSync(join(MIMIC_DIR, module))) {
      const table = `${module}/${file.replace(/\.csv\.gz$/, '')}`;
      const source = join(MIMIC_DIR, module, file);
      if (!edits[table]) {
        symlinkSync(source, join(dir, module, file));
        continue;
      }
      const lines = gunzipSync(readFileSync(source)).toString('utf8').trimEnd().split('\n');
      const rows = lines.map((l) => l.split(','));
      edits[table](rows);
      writeFileSync(join(dir, module, file), gzipSync(rows.map((r) => r.join(',')).join('\n') + '\n'));
    }
  }
  return dir;
}

function setColumn(rows: string[][], column: string, row: number, value: string): void {
  const c = rows[0].indexOf(column);
  assert.ok(c >= 0, column);
  rows[row][c] = value;
}

/** Every regular file below dir (for "no partial output"): the project's own folder marker aside. */
function filesBelow(dir: string): string[] {
  if (!existsSync(dir)) return [];
  if (!statSync(dir).isDirectory()) return [dir];
  return readdirSync(dir).flatMap((name) => (name === '.backdoor-runs.json' ? [] : filesBelow(join(dir, name))));
}

interface Case {
  name: string;
  /** CLI arguments; a function runs after `before`, so fixtures exist. */
  args: () => string[];
  /** What the one error line must say. */
  pattern: RegExp;
  /** Folders that must hold no file afterwards (the failed command wrote nothing there). */
  outputs?: string[];
  /** Paths that must still exist afterwards (clean refused to touch them). */
  survives?: string[];
  /** Paths that must not exist afterwards (a failed command leaves no empty output folder). */
  absent?: string[];
  skip?: string | false;
}

const data = ['--data', f('small.parquet'), '--splits', f('splits.json')];
const train = (name: string, ...args: string[]) => ['train', '--epochs', '1', '--runs-dir', f(`runs-${name}`), ...args];
const fromData = (file: string, splits = f('splits.json')) => ['--data', f(file), '--splits', splits];
// Skipped loudly (named in the real-data summary) without the data; with BACKDOOR_REQUIRE_DATA=1 they run and fail.
const noMimic = hasMimic ? false : realData('mimic').skip;
const noPhysionet = hasPhysionet ? false : realData('physionet').skip;

const CASES: Case[] = [
  // Parquet metadata against the file.
  { name: 'schema claims 12 hours in a 24-hour file', args: () => train('h12', ...fromData('hours-12.parquet')), pattern: /says 12 hours but the file's \w+ columns cover 24/, outputs: [f('runs-h12')] },
  { name: 'schema claims hours: 30000000', args: () => train('huge', ...fromData('hours-huge.parquet')), pattern: /declares 18 variables × 30000000 hours, far more series columns than the file's 4 columns/, outputs: [f('runs-huge')] },
  { name: 'schema lists no variables', args: () => train('novars', ...fromData('no-variables.parquet')), pattern: /lists no variables/, outputs: [f('runs-novars')] },
  { name: 'Infinity in a series column', args: () => train('inf', ...fromData('infinity.parquet')), pattern: /1 value\(s\) are infinite/, outputs: [f('runs-inf')] },
  { name: 'every label 0', args: () => train('all0', ...fromData('all-0.parquet')), pattern: /every one of its 300 stays has label 0/, outputs: [f('runs-all0')] },
  { name: 'every label 1', args: () => train('all1', ...fromData('all-1.parquet')), pattern: /every one of its 300 stays has label 1/, outputs: [f('runs-all1')] },
  // Splits.
  { name: 'splits.json is null', args: () => train('snull', ...fromData('small.parquet', f('splits-null.json'))), pattern: /must be a JSON object with train, val and test/, outputs: [f('runs-snull')] },
  { name: 'splits hold "abc"', args: () => train('sabc', ...fromData('small.parquet', f('splits-abc.json'))), pattern: /train list holds "abc", not an integer stay id/ },
  { name: 'splits hold 1.5', args: () => train('sfrac', ...fromData('small.parquet', f('splits-fraction.json'))), pattern: /train list holds 1\.5, not an integer/ },
  { name: 'splits hold {}', args: () => train('sobj', ...fromData('small.parquet', f('splits-object.json'))), pattern: /train list holds \{\}, not an integer/ },
  { name: 'splits hold a null id', args: () => train('snullid', ...fromData('small.parquet', f('splits-null-id.json'))), pattern: /train list holds null, not an integer/ },
  { name: 'train and test splits overlap', args: () => train('overlap', ...fromData('small.parquet', f('splits-overlap.json'))), pattern: /stay_id \d+ is in both train and test/, outputs: [f('runs-overlap')] },
  // Checkpoints.
  {
    name: 'checkpoint tensor with an unknown group',
    args: () => ['train', '--runs-dir', f('runs-ck1'), '--resume', editCheckpoint(damagedRun('ck1', () => {}), (j) => (j.tensors[0].group = 'biases'))],
    pattern: /unknown group "biases"; valid: weights, best_weights, adam_m, adam_v/,
    outputs: [f('runs-ck1')],
  },
  {
    name: 'checkpoint tensor with a wrong length',
    args: () => ['train', '--runs-dir', f('runs-ck2'), '--resume', editCheckpoint(damagedRun('ck2', () => {}), (j) => (j.tensors[0].length = 3))],
    pattern: /tensor entry 0 has length 3, but its shape/,
  },
  {
    name: 'checkpoint entry {"group":"__proto__","index":"polluted","shape":"x"}',
    args: () => ['train', '--runs-dir', f('runs-ck3'), '--resume', editCheckpoint(damagedRun('ck3', () => {}), (j) => j.tensors.push({ group: '__proto__', index: 'polluted', shape: 'x' }))],
    pattern: /unknown group "__proto__"/,
  },
  {
    name: 'checkpoint binary.file ../../../../etc/hostname',
    args: () => ['train', '--runs-dir', f('runs-ck4'), '--resume', editCheckpoint(damagedRun('ck4', () => {}), (j) => (j.binary.file = '../../../../etc/hostname'))],
    pattern: /must be a plain file name inside the checkpoint folder/,
  },
  {
    name: 'train --resume with an invalid config.yaml',
    args: () => ['train', '--runs-dir', f('runs-badyaml'), '--resume', damagedRun('badyaml', (d) => writeFileSync(join(d, 'config.yaml'), 'model: [unclosed\n  name: : x\n'))],
    pattern: /config\.yaml is not valid YAML/,
    outputs: [f('runs-badyaml')],
  },
  // Damaged run folders.
  { name: 'detect: poisoned_indices.npy missing', args: () => ['detect', '--method', 'spectral', '--run-dir', damagedRun('npy-missing', (d) => rmSync(join(d, 'poisoned_indices.npy')))], pattern: /cannot read .*seed_0\/poisoned_indices\.npy \(ENOENT\); the run folder is damaged/ },
  { name: 'evaluate: poisoned_indices.npy random bytes', args: () => ['evaluate', '--run-dir', damagedRun('npy-random', (d) => writeFileSync(join(d, 'poisoned_indices.npy'), Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 7, 0, 200, 1, 3, 9, 27])))], pattern: /seed_0\/poisoned_indices\.npy is not a valid \.npy file of int64 values: unknown format version 7/ },
  { name: 'evaluate: model.json missing', args: () => ['evaluate', '--run-dir', damagedRun('no-model', (d) => rmSync(join(d, 'model.json')))], pattern: /model\.json is missing; the run folder is damaged/ },
  {
    name: 'evaluate: weights.bin truncated',
    args: () => ['evaluate', '--run-dir', damagedRun('truncated', (d) => writeFileSync(join(d, 'weights.bin'), readFileSync(join(d, 'weights.bin')).subarray(0, 100)))],
    pattern: /weights\.bin is 100 bytes but model\.json describes \d+ \(truncated\?\)/,
  },
  { name: 'detect: featurizer.json = {}', args: () => ['detect', '--method', 'spectral', '--run-dir', damagedRun('featurizer', (d) => writeFileSync(join(d, 'featurizer.json'), '{}'))], pattern: /featurizer\.json names featurizer view none; valid: tabular, sequence/ },
  // Source labels and ids.
  {
    name: 'PhysioNet Outcomes with a duplicate RecordID of opposite label',
    args: () => {
      const dir = f('physionet-dup');
      mkdirSync(dir, { recursive: true });
      symlinkSync(join(PHYSIONET_DIR, 'set-a.tar.gz'), join(dir, 'set-a.tar.gz'));
      const lines = readFileSync(join(PHYSIONET_DIR, 'Outcomes-a.txt'), 'utf8').trimEnd().split('\n');
      const fields = lines[1].split(',');
      fields[fields.length - 1] = fields[fields.length - 1] === '1' ? '0' : '1';
      writeFileSync(join(dir, 'Outcomes-a.txt'), [...lines, fields.join(',')].join('\n') + '\n');
      return ['cohort', 'physionet2012', '--dir', dir, '--out', f('out-physionet-dup')];
    },
    pattern: /RecordID \d+ is listed twice with opposite In-hospital_death labels/,
    absent: [f('out-physionet-dup')],
    skip: noPhysionet,
  },
  {
    name: 'MIMIC-IV hospital_expire_flag = 2',
    args: () => ['cohort', 'mimic-iv', '--mimic-dir', mimicCopy('flag2', { 'hosp/admissions': (rows) => setColumn(rows, 'hospital_expire_flag', 1, '2') }), '--out', f('out-flag2')],
    pattern: /hospital_expire_flag is 2 for hadm_id \d+; it must be 0 or 1/,
    absent: [f('out-flag2')],
    skip: noMimic,
  },
  {
    name: 'MIMIC-IV stay_id beyond 32 bits',
    args: () => ['cohort', 'mimic-iv', '--mimic-dir', mimicCopy('bigid', { 'icu/icustays': (rows) => setColumn(rows, 'stay_id', 1, '2230057454') }), '--out', f('out-bigid')],
    pattern: /icustays\.stay_id ranges over \d+\.\.2230057454, beyond the 32-bit ids/,
    absent: [f('out-bigid')],
    skip: noMimic,
  },
  { name: 'cohort table: label column missing (nested --out)', args: () => ['cohort', 'table', '--file', f('table.csv'), '--label', 'outcome', '--id', 'id', '--out', join(f('out-table'), 'a', 'b')], pattern: /label column "outcome" is not in .*table\.csv; columns: id, label, alpha, beta/, absent: [f('out-table')] },
  {
    name: 'cohort synthetic --out naming an existing file',
    args: () => {
      writeFileSync(f('out-is-a-file'), 'mine\n');
      return ['cohort', 'synthetic', '--n-stays', '300', '--out', f('out-is-a-file')];
    },
    pattern: /cohort output folder .*out-is-a-file exists and is not a folder/,
    survives: [f('out-is-a-file')],
  },
  { name: 'cohort mimic-iv --memory-limit banana', args: () => ['cohort', 'mimic-iv', '--mimic-dir', MIMIC_DIR, '--memory-limit', 'banana', '--out', f('out-banana')], pattern: /mimic-iv\.memory_limit: bad value "banana"; valid: a size such as 512MB, 8GB or 1\.5TB/, absent: [f('out-banana')], skip: noMimic },
  // Numeric flags and the CLI.
  { name: '--seed 9007199254740993', args: () => train('bigseed', ...data, '--seed', '9007199254740993'), pattern: /--seed must be an integer, got "9007199254740993"/, outputs: [f('runs-bigseed')] },
  { name: '--seed 1e21', args: () => train('eseed', ...data, '--seed', '1e21'), pattern: /--seed must be an integer, got "1e21"/, outputs: [f('runs-eseed')] },
  { name: 'seed=9007199254740993 as an override', args: () => train('bigseed2', ...data, 'seed=9007199254740993'), pattern: /seed must be an integer ≥ 0, got 9007199254740992; valid: 0\.\.9007199254740991/, outputs: [f('runs-bigseed2')] },
  { name: '--seeds 1.5 in a sweep', args: () => ['baseline', '--dry-run', '--jobs', '1', '--seeds', '0,1.5', '--runs-dir', f('runs-seeds'), ...data], pattern: /seeds must be integers ≥ 0 \(at most 9007199254740991\), got 1\.5/ },
  { name: '--jobs 0', args: () => ['baseline', '--jobs', '0', '--runs-dir', f('runs-jobs0'), ...data], pattern: /--jobs must be an integer ≥ 1, got "0"/, outputs: [f('runs-jobs0')] },
  { name: '--jobs -5', args: () => ['baseline', '--jobs', '-5', '--runs-dir', f('runs-jobs5'), ...data], pattern: /--jobs must be an integer ≥ 1, got "-5"/ },
  {
    name: 'grid baseline: "no"',
    args: () => {
      writeFileSync(f('grid-no.yaml'), 'models: [mlp]\ntriggers: [rare_value]\npoison_rates: [0.05]\nseeds: [0]\nbaseline: "no"\n');
      return ['benchmark', '--grid', f('grid-no.yaml'), '--dry-run', '--runs-dir', f('runs-grid'), ...data];
    },
    pattern: /baseline must be true or false, got "no"/,
  },
  {
    name: 'a 10 MB string in a config file',
    args: () => {
      writeFileSync(f('huge.yaml'), `model:\n  name: ${'x'.repeat(10 * 1024 * 1024)}\n`);
      return train('huge-config', ...data, '--config', f('huge.yaml'));
    },
    pattern: /unknown model "x{79}… \(10485762 characters\); valid: mlp, /,
  },
  { name: '--seed 4 seed=5', args: () => train('conflict', ...data, '--seed', '4', 'seed=5'), pattern: /--seed 4 conflicts with the override seed=5/, outputs: [f('runs-conflict')] },
  { name: '--runs-dir /proc/runs', args: () => ['train', '--epochs', '1', ...data, '--runs-dir', '/proc/backdoor-runs'], pattern: /cannot write to runs folder \/proc\/backdoor-runs/ },
  // A trigger that needs hours is refused for needing them, before any of its parameters is checked against the table.
  { name: 'train --data <table cohort> --trigger hybrid', args: () => train('hybrid', '--data', join(f('table-cohort'), 'cohort.parquet'), '--trigger', 'hybrid'), pattern: /trigger "hybrid" needs a time axis, but .* is a tabular-only cohort; triggers that work on a table: none, rare_value, pattern, correlation$/, outputs: [f('runs-hybrid')] },
  { name: 'train --data <table cohort> --trigger rare_value (default glucose)', args: () => train('rare-table', '--data', join(f('table-cohort'), 'cohort.parquet'), '--trigger', 'rare_value', '--poison-rate', '0.2'), pattern: /rare_value\.variable: unknown variable "glucose"; valid: alpha, beta/, outputs: [f('runs-rare-table')] },
  // Run identity by config.
  { name: '--variant a/b', args: () => train('variant-slash', ...data, '--variant', 'a/b'), pattern: /variant must be a name of 1 to 40 letters, digits, '_' or '-'.*got "a\/b"/, outputs: [f('runs-variant-slash')] },
  { name: 'variant=.. as an override', args: () => train('variant-dots', ...data, 'variant=..'), pattern: /variant must be a name .*got "\.\."/, outputs: [f('runs-variant-dots')] },
  {
    name: 'grid variant: "two words"',
    args: () => {
      writeFileSync(f('grid-variant.yaml'), 'models: [mlp]\ntriggers: [rare_value]\npoison_rates: [0.05]\nseeds: [0]\nvariant: "two words"\n');
      return ['benchmark', '--grid', f('grid-variant.yaml'), '--dry-run', '--runs-dir', f('runs-grid-variant'), ...data];
    },
    pattern: /variant must be a name .*got "two words"/,
  },
  {
    name: 'a run differing only in config, without --variant',
    args: () => {
      const r = runCli([...train('glucose', ...data, '--trigger', 'rare_value', '--poison-rate', '0.05', 'trigger.variable=glucose'), '--json'], work);
      assert.equal(r.status, 0, r.stderr);
      return train('glucose', ...data, '--trigger', 'rare_value', '--poison-rate', '0.05', 'trigger.variable=potassium');
    },
    pattern: /rare_value\/0\.05\/seed_0 holds a finished run of a different config or data; pass --force to replace it, --variant NAME to keep both/,
  },
  {
    name: 'visualize over runs of one cell whose configs differ',
    args: () => {
      const runs = f('runs-mixed');
      cpSync(f('base-runs'), runs, { recursive: true });
      const r = runCli(['train', '--epochs', '1', '--runs-dir', runs, ...data, '--seed', '1', 'train.batch_size=32', '--json'], work);
      assert.equal(r.status, 0, r.stderr);
      return ['visualize', '--runs-dir', runs];
    },
    pattern: /runs mlp\/none\/0\/seed_0 and mlp\/none\/0\/seed_1 of mlp\/none\/0 differ in train\.batch_size; the report never pools them/,
    absent: [f('report-runs-mixed')],
  },
  // clean.
  {
    name: 'clean --runs-dir on a fake root (etc/, home/, usr/)',
    args: () => {
      for (const d of ['etc', 'home', 'usr']) mkdirSync(join(f('fake-root'), d), { recursive: true });
      writeFileSync(join(f('fake-root'), 'etc', 'hostname'), 'box\n');
      return ['clean', '--runs-dir', f('fake-root'), '--yes'];
    },
    pattern: /fake-root has no \.backdoor-runs\.json marker, so it is not a runs folder the project made; clean refuses it/,
    survives: [join(f('fake-root'), 'etc', 'hostname'), join(f('fake-root'), 'home'), join(f('fake-root'), 'usr')],
  },
  {
    name: "clean --data-dir on a user's folder (notes, a self-built cohort)",
    args: () => {
      mkdirSync(join(f('user-data'), 'cohorts', 'mine'), { recursive: true });
      writeFileSync(join(f('user-data'), 'my_notes.txt'), 'do not delete\n');
      writeFileSync(join(f('user-data'), 'cohorts', 'mine', 'cohort.parquet'), 'x');
      return ['clean', '--data-dir', f('user-data'), '--yes'];
    },
    pattern: /user-data has no \.backdoor-data\.json marker/,
    survives: [join(f('user-data'), 'my_notes.txt'), join(f('user-data'), 'cohorts', 'mine', 'cohort.parquet')],
  },
  // Untrusted names and keys: the registries' own-property lookup and the config reader's refusal of prototype keys.
  { name: '--model __proto__', args: () => train('m-proto', ...data, '--model', '__proto__'), pattern: /unknown model "__proto__"/ },
  { name: '--model constructor', args: () => train('m-ctor', ...data, '--model', 'constructor'), pattern: /unknown model "constructor"/ },
  { name: 'model.name=toString', args: () => train('m-tostring', ...data, 'model.name=toString'), pattern: /unknown model "toString"/ },
  { name: 'override __proto__.x=1', args: () => train('o-proto', ...data, '__proto__.x=1'), pattern: /__proto__/ },
  { name: 'override train.__proto__.epochs=1', args: () => train('o-train-proto', ...data, 'train.__proto__.epochs=1'), pattern: /__proto__/ },
  { name: 'override model.__proto__.x=1', args: () => train('o-model-proto', ...data, 'model.__proto__.x=1'), pattern: /__proto__/ },
  { name: 'detect __proto__.threshold=0', args: () => ['detect', '--method', 'spectral', '--run-dir', join(f('base-runs'), RUN), '__proto__.threshold=0'], pattern: /__proto__/ },
  {
    name: 'nested __proto__ key in a config file',
    args: () => {
      writeFileSync(f('proto.yaml'), 'train:\n  __proto__:\n    epochs: 1\n');
      return train('c-proto', ...data, '--config', f('proto.yaml'));
    },
    pattern: /__proto__/,
  },
  {
    name: 'nested __proto__ key in a grid file',
    args: () => {
      writeFileSync(f('grid-proto.yaml'), 'models: [mlp]\ntriggers: [rare_value]\npoison_rates: [0.05]\nseeds: [0]\noverrides:\n  __proto__:\n    x: 1\n');
      return ['benchmark', '--grid', f('grid-proto.yaml'), '--dry-run', '--runs-dir', f('runs-grid-proto'), ...data];
    },
    pattern: /__proto__/,
  },
];

for (const c of CASES) {
  test(`bad input: ${c.name}`, { skip: c.skip || undefined }, () => {
    const r = runCli(c.args(), work, guardEnv());
    assert.equal(r.status, 2, `exit ${r.status}; stderr: ${r.stderr.slice(0, 2000)}`);
    assert.doesNotMatch(r.stderr, /PROTOTYPE POLLUTED/, 'Object.prototype was modified');
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    const lines = r.stderr.split('\n').filter((l) => l.length > 0 && !/^\[|^\d+\/\d+ runs/.test(l));
    assert.equal(lines.length, 1, `expected one error line, got:\n${r.stderr.slice(0, 2000)}`);
    assert.match(lines[0], /^backdoor: error: /);
    assert.ok(lines[0].length < 2500, `the error line is ${lines[0].length} characters long`);
    assert.match(lines[0], c.pattern);
    for (const dir of c.outputs ?? []) assert.deepEqual(filesBelow(dir), [], `${dir} holds partial output`);
    for (const path of c.survives ?? []) assert.ok(existsSync(path), `${path} was removed`);
    for (const path of c.absent ?? []) assert.equal(existsSync(path), false, `${path} was left behind`);
    for (const path of c.absent ?? []) assert.deepEqual(readdirSync(join(path, '..')).filter((n) => n.includes('.tmp-')), [], 'no temporary folder beside it');
  });
}

test('a checkpoint entry with group "__proto__" is refused in-process and pollutes nothing', async () => {
  const dir = damagedRun('ck-inprocess', () => {});
  const ckpt = editCheckpoint(dir, (j) => j.tensors.push({ group: '__proto__', index: 'polluted', shape: 'x', offset: 0, length: 1 }));
  await assert.rejects(readCheckpoint(ckpt), (err: Error) => err instanceof UserError && /unknown group "__proto__"/.test(err.message));
  assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('the failure recorder never throws and leaves no partial file', async () => {
  writeFileSync(f('a-file'), 'x');
  const problem = await writeRecordBestEffort(join(f('a-file'), 'sub', '.seed_0.failed.json'), '{}');
  assert.match(problem ?? '', /could not write .*\.seed_0\.failed\.json/);
  assert.equal(existsSync(join(f('a-file'), 'sub')), false);

});

test('train --resume goes into --runs-dir, not a folder derived from the checkpoint path', () => {
  const source = damagedRun('resume-target', () => {});
  const checkpoints = join(source, 'checkpoints');
  const ckpt = join(checkpoints, readdirSync(checkpoints).sort()[0]);
  const target = f('resume-into');
  const r = runCli(['train', '--resume', ckpt, '--runs-dir', target, '--json'], work);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(target, RUN, 'metrics.json')), 'the resumed run is in --runs-dir');
  assert.ok(readFileSync(join(target, RUN, 'metrics.json')).equals(readFileSync(join(f('base-runs'), RUN, 'metrics.json'))), 'same metrics as the original run');
});

test('clean: --dry-run lists only what the project wrote; --yes keeps a user note in a marked data folder', () => {
  const dataDir = f('setup-data');
  const s = runCli(['setup', '--data-dir', dataDir, '--n-stays', '300', '--dev-size', '100', '--json'], work);
  assert.equal(s.status, 0, s.stderr);
  writeFileSync(join(dataDir, 'my_notes.txt'), 'mine\n');
  writeFileSync(join(dataDir, 'dev', 'my_subset_notes.txt'), 'mine too\n');
  const dry = runCli(['clean', '--data-dir', dataDir, '--dry-run'], work);
  assert.equal(dry.status, 0, dry.stderr);
  const listed = dry.stdout.split('\n').filter((l) => l.startsWith('  ')).map((l) => l.trim().slice(dataDir.length + 1)).sort();
  assert.deepEqual(listed, ['.backdoor-data.json', 'dev/dev.parquet', 'main.parquet', 'manifest.json', 'splits/splits.json']);
  assert.ok(existsSync(join(dataDir, 'main.parquet')), '--dry-run removes nothing');
  const yes = runCli(['clean', '--data-dir', dataDir, '--yes'], work);
  assert.equal(yes.status, 0, yes.stderr);
  assert.deepEqual(readdirSync(dataDir).sort(), ['dev', 'my_notes.txt']);
  assert.deepEqual(readdirSync(join(dataDir, 'dev')), ['my_subset_notes.txt']);
});

test('clean --runs-dir X touches only X and the report made from X; --runs-only keeps the report', () => {
  const root = f('clean-runs');
  const runs = join(root, 'mine');
  cpSync(f('base-runs'), runs, { recursive: true });
  mkdirSync(join(root, 'report-mine'), { recursive: true });
  writeFileSync(join(root, 'report-mine', 'report_manifest.json'), JSON.stringify({ runs_dir: runs }));
  writeFileSync(join(root, 'report-mine', 'report.html'), '<html></html>');
  // A data folder and report in the working folder that a --runs-dir clean must not touch.
  const cwd = join(root, 'cwd');
  mkdirSync(join(cwd, 'data'), { recursive: true });
  writeFileSync(join(cwd, 'data', '.backdoor-data.json'), JSON.stringify({ kind: 'data', files: ['main.parquet'] }));
  writeFileSync(join(cwd, 'data', 'main.parquet'), 'x');

  const runsOnly = runCli(['clean', '--runs-dir', runs, '--runs-only', '--yes'], cwd);
  assert.equal(runsOnly.status, 0, runsOnly.stderr);
  assert.deepEqual(readdirSync(runs), []);
  assert.ok(existsSync(join(root, 'report-mine', 'report.html')), '--runs-only keeps the report');
  assert.ok(existsSync(join(cwd, 'data', 'main.parquet')), './data is untouched');

  // A report made from another runs folder stays; the one made from X goes.
  writeFileSync(join(root, 'report-mine', 'report_manifest.json'), JSON.stringify({ runs_dir: join(root, 'other') }));
  cpSync(f('base-runs'), runs, { recursive: true });
  const other = runCli(['clean', '--runs-dir', runs, '--yes'], cwd);
  assert.equal(other.status, 0, other.stderr);
  assert.match(other.stdout, /kept .*report-mine: it was made from .*other/);
  assert.ok(existsSync(join(root, 'report-mine', 'report.html')));
  writeFileSync(join(root, 'report-mine', 'report_manifest.json'), JSON.stringify({ runs_dir: runs }));
  cpSync(f('base-runs'), runs, { recursive: true });
  const mine = runCli(['clean', '--runs-dir', runs, '--yes'], cwd);
  assert.equal(mine.status, 0, mine.stderr);
  assert.equal(existsSync(join(root, 'report-mine')), false, 'the report made from X is removed');
  assert.ok(existsSync(join(cwd, 'data', 'main.parquet')), './data is untouched');
});

test('stdout closed early (`backdoor cohort … | true`): a quiet exit 0, no stack trace', () => {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const command = `${quote(process.execPath)} ${quote(CLI)} cohort synthetic --n-stays 300 --out ${quote(f('out-epipe'))} | true; echo "rc=\${PIPESTATUS[0]}" >&2`;
  const r = spawnSync('bash', ['-c', command], { cwd: work, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(r.stderr, 'rc=0\n', 'nothing on stderr but the exit code');
  assert.ok(existsSync(join(f('out-epipe'), 'cohort.parquet')), 'the cohort was still built');
});
