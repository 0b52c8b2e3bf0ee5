/**
 * The sweep half of `npm run check:slurm` (scripts/check-slurm.sh brings the cluster up and down):
 *   1. a small grid run locally, and the same grid through `--launcher slurm --wait` as a 3-task array: their
 *      summary.csv must be equal row for row;
 *   2. the grid again in a fresh runs folder, one task cancelled with scancel while a run is mid-training, then the
 *      same command again: equal again, and no epoch of any run trained twice (the tasks' per-epoch logs).
 * Prints the predicted and actual per-task cost and what the cancelled task cost on resubmission.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const { values } = parseArgs({ options: { work: { type: 'string' } } });
if (!values.work) throw new Error('usage: check-slurm-sweep --work <folder>');
const work = values.work;

const EPOCHS = 20;
const SHARDS = 3;
const GRID = `models: [mlp]
triggers: [rare_value, pattern]
poison_rates: [0.05, 0.1]
seeds: [0, 1]
baseline: true
detectors: []
overrides:
  data: {path: data/dev/dev.parquet}
  train: {epochs: ${EPOCHS}, patience: 0, select: last}
`;

function log(line: string): void {
  process.stderr.write(`check:slurm: ${line}\n`);
}

function fail(message: string): never {
  log(`FAILED: ${message}`);
  process.exit(1);
}

function cli(args: string[], expectStatus = 0): { stdout: string; stderr: string; seconds: number } {
  const started = Date.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  if (r.status !== expectStatus) fail(`backdoor ${args.join(' ')} exited ${r.status} (expected ${expectStatus}):\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr, seconds: (Date.now() - started) / 1000 };
}

function slurmArgs(runsDir: string, wait: boolean): string[] {
  return ['benchmark', '--grid', 'grid.yaml', '--runs-dir', runsDir, '--launcher', 'slurm', '--shards', String(SHARDS), '--array-parallelism', String(SHARDS), '--cpus-per-task', '1', '--poll-seconds', '1', ...(wait ? ['--wait'] : [])];
}

function readCsv(path: string): Record<string, string>[] {
  const [header, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const columns = header.split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((v, i) => [columns[i], v])));
}

/** Every column of every row equal (run ids and the data hash included: same configs, same data). */
function assertSameSummary(expectedDir: string, actualDir: string): number {
  const expected = readCsv(join(work, expectedDir, 'summary.csv'));
  const actual = readCsv(join(work, actualDir, 'summary.csv'));
  if (expected.length !== actual.length) fail(`${actualDir}/summary.csv has ${actual.length} rows, ${expectedDir} ${expected.length}`);
  expected.forEach((row, i) => {
    for (const [column, value] of Object.entries(row)) {
      if (actual[i][column] !== value) fail(`${actualDir}/summary.csv row ${i + 1} column ${column}: ${actual[i][column]} ≠ ${value} (${expectedDir})`);
    }
  });
  return expected.length;
}

/** "shard 2: COMPLETED in 14 s; predicted 12.6 s; 3/3 runs complete" lines of --wait. */
function taskCosts(stderr: string): { shard: number; state: string; actual: number | null; predicted: number }[] {
  return [...stderr.matchAll(/^shard (\d+): (\S+)(?: in (\d+) s)?(?: this time)?; predicted ([\d.]+) s/gm)].map((m) => ({ shard: Number(m[1]), state: m[2], actual: m[3] ? Number(m[3]) : null, predicted: Number(m[4]) }));
}

/**
 * The epochs each run trained, from the tasks' logs (each task runs --jobs 1, so a log's epoch lines follow its
 * "start <run>" line). An epoch logged twice for one run is a run trained twice.
 */
function epochsByRun(runsDir: string, jobId = ''): Map<string, number[]> {
  const folder = join(work, runsDir, 'slurm');
  const epochs = new Map<string, number[]>();
  // Task logs are named <sweep-id>-<job id>_<task>.out.
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.out') && f.includes(`-${jobId}`)).sort()) {
    let current = '';
    for (const line of readFileSync(join(folder, file), 'utf8').split('\n')) {
      const start = /^start (\S+)/.exec(line);
      if (start) current = start[1];
      const epoch = /^ {2}epoch (\d+):/.exec(line);
      if (epoch && current) epochs.set(current, [...(epochs.get(current) ?? []), Number(epoch[1])]);
    }
  }
  return epochs;
}

function squeueEmpty(jobId: string): boolean {
  const r = spawnSync('squeue', ['--noheader', '--jobs', jobId], { encoding: 'utf8' });
  return r.status !== 0 || r.stdout.trim() === '';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const started = Date.now();

log('setup: a 2,000-stay cohort with a 1,000-stay dev subset');
cli(['setup', '--data-dir', 'data', '--n-stays', '2000', '--dev-size', '1000']);
writeFileSync(join(work, 'grid.yaml'), GRID);

const local = cli(['benchmark', '--grid', 'grid.yaml', '--runs-dir', 'runs-local', '--jobs', '2']);
log(`local sweep: ${local.seconds.toFixed(1)} s`);

log(`dry run: ${cli(['benchmark', '--grid', 'grid.yaml', '--runs-dir', 'runs-slurm', '--dry-run', '--shards', String(SHARDS)]).stdout.trim().replace(/\n/g, '; ')}`);
const viaSlurm = cli(slurmArgs('runs-slurm', true));
const rows = assertSameSummary('runs-local', 'runs-slurm');
const costs = taskCosts(viaSlurm.stderr);
if (costs.length !== SHARDS || costs.some((c) => c.state !== 'COMPLETED')) fail(`expected ${SHARDS} completed tasks:\n${viaSlurm.stderr}`);
log(`slurm sweep (${SHARDS}-task array, --wait): ${viaSlurm.seconds.toFixed(1)} s; summary.csv equals the local one (${rows} rows)`);
for (const c of costs) log(`  task ${c.shard}: predicted ${c.predicted.toFixed(1)} s, actual ${c.actual} s`);
for (const [run, epochs] of epochsByRun('runs-slurm')) if (epochs.length !== EPOCHS) fail(`${run} logged ${epochs.length} epochs, expected ${EPOCHS}`);

// The fault: submit without --wait, cancel the task whose run is earliest in training, submit the same command again.
const submitted = cli(slurmArgs('runs-fault', false));
const jobId = submitted.stdout.trim();
if (!/^\d+$/.test(jobId)) fail(`no job id printed: ${submitted.stdout}`);
const planFile = readdirSync(join(work, 'runs-fault', 'slurm')).find((f) => f.endsWith('.plan.json'));
if (!planFile) fail('no shard plan in runs-fault/slurm');
const plan = JSON.parse(readFileSync(join(work, 'runs-fault', 'slurm', planFile), 'utf8')) as { shards: { index: number; runs: { dir: string }[] }[] };
type Victim = { shard: number; run: string; epoch: number };
function findVictim(): Victim | null {
  for (const shard of plan.shards) {
    for (const run of shard.runs) {
      const runDir = join(work, 'runs-fault', run.dir);
      const checkpoints = join(dirname(runDir), `.${run.dir.split('/').at(-1)}.partial`, 'checkpoints');
      if (existsSync(join(runDir, 'run_metadata.json')) || !existsSync(checkpoints)) continue;
      const epochs = readdirSync(checkpoints).map((c) => Number(/^epoch_(\d+)$/.exec(c)?.[1])).filter(Number.isFinite);
      // Far enough in to have a checkpoint, early enough that the run cannot finish before scancel lands.
      if (epochs.length > 0 && Math.max(...epochs) <= EPOCHS / 2) return { shard: shard.index, run: run.dir, epoch: Math.max(...epochs) };
    }
  }
  return null;
}
const deadline = Date.now() + 120_000;
let found = findVictim();
while (!found && Date.now() < deadline) {
  await sleep(100);
  found = findVictim();
}
if (!found) fail('no run reached a checkpoint within 2 minutes');
const victim: Victim = found;
const cancelledAt = Date.now();
const scancel = spawnSync('scancel', [`${jobId}_${victim.shard}`], { encoding: 'utf8' });
if (scancel.status !== 0) fail(`scancel failed: ${scancel.stderr}`);
log(`cancelled task ${jobId}_${victim.shard} while ${victim.run} was past epoch ${victim.epoch} of ${EPOCHS}`);
while (!squeueEmpty(jobId)) await sleep(500);
const incomplete = plan.shards.flatMap((s) => s.runs).filter((r) => !existsSync(join(work, 'runs-fault', r.dir, 'run_metadata.json')));
log(`first array ended: ${incomplete.length} run(s) unfinished`);
if (incomplete.length === 0) fail('the cancelled task finished its runs anyway');

const again = cli(slurmArgs('runs-fault', true));
const submittedShards = /shards ([\d,]+) of/.exec(again.stderr)?.[1];
if (submittedShards !== String(victim.shard)) fail(`the resubmission ran shards ${submittedShards}, expected only the cancelled ${victim.shard}:\n${again.stderr}`);
assertSameSummary('runs-local', 'runs-fault');
const epochs = epochsByRun('runs-fault');
for (const [run, list] of epochs) {
  const twice = list.filter((e, i) => list.indexOf(e) !== i);
  if (twice.length > 0) fail(`${run} trained epoch(s) ${twice.join(', ')} twice`);
}
const trainedEpochs = [...epochs.values()].reduce((n, l) => n + l.length, 0);
const resumed = [...readdirSync(join(work, 'runs-fault', 'slurm'))].filter((f) => f.endsWith('.out')).map((f) => readFileSync(join(work, 'runs-fault', 'slurm', f), 'utf8')).join('').match(/resuming from epoch \d+/g) ?? [];
if (resumed.length === 0) fail('the resubmission resumed no run from its checkpoints');
const secondJob = again.stdout.trim();
const retrained = [...epochsByRun('runs-fault', `${secondJob}_`).values()].reduce((n, l) => n + l.length, 0);
const shardEpochs = plan.shards[victim.shard - 1].runs.length * EPOCHS;
const before = [...epochsByRun('runs-fault', `${jobId}_${victim.shard}.`).values()].reduce((n, l) => n + l.length, 0);
log(`the cancelled shard (${shardEpochs} epochs) had trained ${before} epochs when cancelled; the resubmission trained the other ${retrained} (job ${secondJob})`);
const rerun = taskCosts(again.stderr).find((c) => c.shard === victim.shard);
log(`resubmission: ${again.seconds.toFixed(1)} s for shard ${victim.shard} (task ${rerun?.actual ?? '?'} s, predicted for the whole shard ${rerun?.predicted.toFixed(1)} s); ${resumed.join(', ')}; ${incomplete.length} unfinished run(s) finished`);
log(`no run trained twice: ${trainedEpochs} epoch lines for ${epochs.size} runs × ${EPOCHS} epochs = ${epochs.size * EPOCHS} (an epoch cut short by scancel is lost, not logged); summary.csv equal again`);
log(`cancel to result: ${((Date.now() - cancelledAt) / 1000).toFixed(1)} s; sweeps took ${((Date.now() - started) / 1000).toFixed(1)} s`);
log('passed');
