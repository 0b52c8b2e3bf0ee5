import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { writeCohortParquet } from '../src/data/parquet.js';
import { makeSplits, writeSplits } from '../src/data/splits.js';
import { balanceShards, shardCosts } from '../src/experiments/cost.js';
import { selectShard } from '../src/experiments/batch.js';
import { arraySpec, expandTaskList, parseScontrolTasks, parseSlurmDuration, sbatchScript, type SlurmOptions } from '../src/pipeline/launchers/slurm.js';
import { UserError } from '../src/util/errors.js';
import { createProgress } from '../src/util/progress.js';
import { loadSweepSpec } from '../src/experiments/sweep.js';
import { launchSweep, taskLines } from '../src/pipeline/launch.js';
import { localLauncher } from '../src/pipeline/launchers/local.js';
import { runCli, tempDir } from './helpers.js';

const options: SlurmOptions = {
  arrayParallelism: 4,
  cpusPerTask: 2,
  partition: 'short',
  time: '01:00:00',
  mem: '8G',
  sbatchArgs: ['--account=lab', '--qos=high'],
  cli: "/opt/it's/backdoor/dist/src/cli/main.js",
  cwd: '/scratch/study',
};

test('the sbatch script names the job after the sweep, sets every option and runs its shard of the plan', () => {
  const script = sbatchScript('0123456789ab', '/shared/runs/slurm/0123456789ab.plan.json', '/shared/runs', options);
  assert.equal(
    script,
    [
      '#!/bin/bash',
      '# backdoor sweep 0123456789ab: array task i trains shard i of /shared/runs/slurm/0123456789ab.plan.json.',
      '# Written and submitted by `backdoor benchmark --launcher slurm`; the same command submits the unfinished shards again.',
      '#SBATCH --job-name=backdoor-0123456789ab',
      '#SBATCH --output=/shared/runs/slurm/0123456789ab-%A_%a.out',
      '#SBATCH --cpus-per-task=2',
      '#SBATCH --partition=short',
      '#SBATCH --time=01:00:00',
      '#SBATCH --mem=8G',
      '#SBATCH --account=lab',
      '#SBATCH --qos=high',
      'set -euo pipefail',
      "cd '/scratch/study'",
      `exec node '/opt/it'\\''s/backdoor/dist/src/cli/main.js' run-shard '/shared/runs/slurm/0123456789ab.plan.json' --index "$SLURM_ARRAY_TASK_ID" --jobs 2 --verbose`,
      '',
    ].join('\n'),
  );
  const minimal = sbatchScript('0123456789ab', '/r/slurm/p.json', '/r', { ...options, partition: undefined, time: undefined, mem: undefined, sbatchArgs: [] });
  assert.doesNotMatch(minimal, /--partition|--time|--mem|--account/);
});

test('sbatch options that would break the script or fight the launcher are refused', () => {
  assert.throws(() => sbatchScript('0123456789ab', '/r/p', '/r', { ...options, sbatchArgs: ['--comment=two words'] }), UserError);
  assert.throws(() => sbatchScript('0123456789ab', '/r/p', '/r', { ...options, sbatchArgs: ['--array=1-4'] }), /sets this option itself/);
  assert.throws(() => sbatchScript('0123456789ab', '/r/p', '/r', { ...options, sbatchArgs: ['account=lab'] }), /one sbatch option/);
  assert.throws(() => sbatchScript('0123456789ab', '/r/p', '/r', { ...options, time: '1:00\n#SBATCH --x' }), UserError);
  assert.throws(() => sbatchScript('0123456789ab', '/r/p', '/my runs', options), /without spaces/);
});

test('array specs compress consecutive shards and carry the parallelism limit', () => {
  assert.equal(arraySpec([1, 2, 3], 8), '1-3%8');
  assert.equal(arraySpec([5, 1, 2, 3, 7, 8], 2), '1-3,5,7-8%2');
  assert.equal(arraySpec([2], 1), '2%1');
  assert.deepEqual(expandTaskList('[2-4%2]'), [2, 3, 4]);
  assert.deepEqual(expandTaskList('1,3'), [1, 3]);
});

test("scontrol's one-line records give each task's state and run time", () => {
  const text = [
    'JobId=12 ArrayJobId=10 ArrayTaskId=2 ArrayTaskThrottle=3 JobName=backdoor-x UserId=root(0) JobState=CANCELLED Reason=None ExitCode=0:15 RunTime=00:00:07 TimeLimit=UNLIMITED',
    'JobId=10 ArrayJobId=10 ArrayTaskId=3 ArrayTaskThrottle=3 JobName=backdoor-x UserId=root(0) JobState=COMPLETED Reason=None ExitCode=0:0 RunTime=1-02:03:04 TimeLimit=UNLIMITED',
    'JobId=11 ArrayJobId=10 ArrayTaskId=1 ArrayTaskThrottle=3 JobName=backdoor-x UserId=root(0) JobState=TIMEOUT Reason=TimeLimit ExitCode=0:0 RunTime=01:00:00 TimeLimit=01:00:00',
  ].join('\n');
  assert.deepEqual(parseScontrolTasks(text), [
    { shard: 1, state: 'TIMEOUT', seconds: 3600 },
    { shard: 2, state: 'CANCELLED', seconds: 7 },
    { shard: 3, state: 'COMPLETED', seconds: 93784 },
  ]);
  assert.equal(parseSlurmDuration('05:09'), 309);
  assert.equal(parseSlurmDuration('INVALID'), null);
});

test('cost balancing beats round-robin on runs whose costs differ 4× between models, and is deterministic', () => {
  // The grid order of a sweep: 6 MLP runs (cost 1) then 6 LSTM runs (cost 4).
  const costs = [1, 1, 1, 1, 1, 1, 4, 4, 4, 4, 4, 4];
  const balanced = balanceShards(costs, 4);
  assert.deepEqual(shardCosts(costs, balanced, 4), [8, 8, 7, 7]);
  const roundRobin = costs.map((_, k) => (k % 4) + 1);
  assert.deepEqual(shardCosts(costs, roundRobin, 4), [6, 6, 9, 9]);
  assert.deepEqual(balanceShards(costs, 4), balanced);
  // Equal costs spread evenly, finished (cost 0) runs too.
  assert.deepEqual(shardCosts([0, 0, 0, 0, 0, 0], balanceShards([0, 0, 0, 0, 0, 0], 3), 3), [0, 0, 0]);
  assert.deepEqual([1, 2, 3].map((s) => balanceShards([0, 0, 0, 0, 0, 0], 3).filter((x) => x === s).length), [2, 2, 2]);
  assert.equal(selectShard(costs, { index: 3, count: 4 }).reduce((a, b) => a + b, 0), 9);
});

// A fake Slurm on PATH: sbatch runs the array's tasks right away (skipping the task in FAKE_SLURM_CANCEL, as if
// scancel had stopped it) and records its arguments; squeue reports the sweep as queued only when FAKE_SLURM_ACTIVE is set.
const work = tempDir('launcher');
const bin = join(work, 'bin');
const fake = join(work, 'fake');
const grid = join(work, 'grid.yaml');

before(async () => {
  const data = join(work, 'cohort.parquet');
  const splits = join(work, 'splits.json');
  const { cohort } = generateSynthetic({ nStays: 600, seed: 5 });
  await writeCohortParquet(data, cohort);
  await writeSplits(splits, makeSplits(cohort, 5));
  writeFileSync(
    grid,
    ['models: [mlp]', 'triggers: [rare_value]', 'poison_rates: [0.05]', 'seeds: [0, 1]', 'baseline: true', 'detectors: []', 'overrides:', `  data: {path: ${JSON.stringify(data)}, splits: ${JSON.stringify(splits)}}`, '  train: {epochs: 2, patience: 0}'].join('\n'),
  );
  mkdirSync(bin);
  mkdirSync(fake);
  const tool = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  tool(
    'sbatch',
    `echo "$*" >> "${fake}/sbatch.log"
for a in "$@"; do case "$a" in --array=*) spec="\${a#--array=}";; esac; script="$a"; done
spec="\${spec%%%*}"
job=$(( $(cat "${fake}/next" 2>/dev/null || echo 100) + 1 )); echo "$job" > "${fake}/next"
for part in \${spec//,/ }; do
  for ((i=\${part%-*}; i<=\${part#*-}; i++)); do
    if [ "$i" = "\${FAKE_SLURM_CANCEL:-}" ]; then state=CANCELLED; else SLURM_ARRAY_TASK_ID=$i bash "$script" > "${fake}/task-$job-$i.out" 2>&1 && state=COMPLETED || state=FAILED; fi
    echo "JobId=$((job + i)) ArrayJobId=$job ArrayTaskId=$i JobState=$state RunTime=00:00:0$i" >> "${fake}/scontrol-$job"
  done
done
echo "$job"`,
  );
  tool('squeue', `if [ -n "\${FAKE_SLURM_ACTIVE:-}" ] && [[ " $* " == *" --name "* ]]; then echo "77 [1-3%8]"; fi`);
  tool('scontrol', `cat "${fake}/scontrol-$3"`);
});

function slurm(runsDir: string, env: Record<string, string> = {}, wait = true) {
  const args = ['benchmark', '--grid', grid, '--runs-dir', runsDir, '--launcher', 'slurm', '--shards', '3', '--cpus-per-task', '1', '--poll-seconds', '1', ...(wait ? ['--wait'] : [])];
  return runCli(args, work, { PATH: `${bin}:${process.env.PATH}`, ...env });
}

const sbatchCalls = () => (existsSync(join(fake, 'sbatch.log')) ? readFileSync(join(fake, 'sbatch.log'), 'utf8').trim().split('\n') : []);

test('resubmitting the same command submits only the shards that still hold unfinished runs', () => {
  const runsDir = join(work, 'runs');
  const first = slurm(runsDir, { FAKE_SLURM_CANCEL: '2' });
  assert.equal(first.status, 1, first.stderr);
  assert.equal(first.stdout.trim(), '101');
  assert.match(sbatchCalls()[0], /^--parsable --array=1-3%8 .*slurm\/[0-9a-f]{12}\.sh$/);
  assert.match(first.stderr, /shard 2: CANCELLED in 2 s; predicted [\d.]+ s; 0\/1 runs complete/);
  assert.match(first.stderr, /1 run\(s\) unfinished .* the same command resumes them/);
  const plan = readdirSync(join(runsDir, 'slurm')).find((f) => f.endsWith('.plan.json'))!;
  const shards = (JSON.parse(readFileSync(join(runsDir, 'slurm', plan), 'utf8')) as { shards: { runs: unknown[] }[] }).shards.map((s) => s.runs.length);
  assert.deepEqual(shards, [2, 1, 1]);

  const second = slurm(runsDir);
  assert.equal(second.status, 0, second.stderr);
  assert.match(sbatchCalls()[1], /^--parsable --array=2%8 /);
  assert.match(second.stderr, /shard 1: not submitted this time; predicted [\d.]+ s; 2\/2 runs complete/);
  assert.match(second.stderr, /shard 2: COMPLETED in 2 s/);
  assert.equal(readFileSync(join(runsDir, 'summary.csv'), 'utf8').trim().split('\n').length, 1 + 4);

  const third = slurm(runsDir, {}, false);
  assert.equal(third.status, 0, third.stderr);
  assert.equal(sbatchCalls().length, 2);
  assert.match(third.stderr, /all 4 runs are complete; nothing to submit/);
});

test('a sweep still queued is waited for, not submitted twice', () => {
  const before = sbatchCalls().length;
  const r = slurm(join(work, 'runs-queued'), { FAKE_SLURM_ACTIVE: '1' }, false);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(sbatchCalls().length, before);
  assert.match(r.stderr, /already submitted as job 77; not submitting it twice/);
});

test('--dry-run --shards prints the predicted cost of each shard; without sbatch on PATH the launcher says where to run', () => {
  const dry = runCli(['benchmark', '--grid', grid, '--runs-dir', join(work, 'runs-dry'), '--dry-run', '--shards', '3'], work);
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /cost mlp: 0\.300 s per epoch per 1,000 training rows \(default table\)/);
  assert.equal((dry.stdout.match(/^shard \d\/3: \d runs, predicted [\d.]+ s$/gm) ?? []).length, 3);
  const frozen = runCli(['benchmark', '--grid', grid, '--runs-dir', join(work, 'runs'), '--dry-run', '--shards', '2'], work);
  assert.match(frozen.stdout, /^shard 3\/3: /m);
  assert.match(frozen.stdout, /4 runs \(4 complete\); frozen plan of the earlier submission/);
  // Another grid in the same runs folder: a new plan, its cost rate measured on the 4 finished runs.
  const measured = runCli(['benchmark', '--grid', grid, '--runs-dir', join(work, 'runs'), '--seeds', '7', '--dry-run', '--shards', '2'], work);
  assert.match(measured.stdout, /cost mlp: [\d.]+ s per epoch per 1,000 training rows \(mean of 4 finished runs\)/);
  assert.match(measured.stdout, /2 runs \(0 complete\); plan not yet written/);
  const none = runCli(['benchmark', '--grid', grid, '--runs-dir', join(work, 'runs-none'), '--launcher', 'slurm'], work, { PATH: '/nonexistent' });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /squeue not found on PATH: run this on a Slurm login node/);
});

test('the local launcher runs a plan through the same launch contract: every shard, then nothing left to submit', async () => {
  const runsDir = join(work, 'runs-local');
  const lines: string[] = [];
  const options = {
    runsDir,
    shards: 2,
    planPathFor: (dir: string, id: string) => join(dir, 'local', `${id}.plan.json`),
    launcher: localLauncher({ jobs: 1, progress: createProgress({ quiet: true }) }),
    wait: true,
    log: (line: string) => lines.push(line),
  };
  const first = await launchSweep(loadSweepSpec(grid), options);
  assert.deepEqual(first.submission?.shards, [1, 2]);
  assert.deepEqual(first.tasks?.map((t) => [t.shard, t.state]), [[1, 'COMPLETED'], [2, 'COMPLETED']]);
  assert.equal(first.complete.length, 4);
  assert.deepEqual([first.failed, first.unfinished], [[], []]);
  assert.ok(existsSync(join(runsDir, 'local', `${first.sweepId}.plan.json`)));
  assert.match(taskLines(first)[1], /^shard 2: COMPLETED in [\d.]+ s; predicted [\d.]+ s; 2\/2 runs complete$/);
  const second = await launchSweep(loadSweepSpec(grid), options);
  assert.equal(second.submission, null);
  assert.equal(second.sweepId, first.sweepId);
  assert.match(lines.at(-1)!, /all 4 runs are complete; nothing to submit/);
});
