/**
 * Attack directions and modes in grids: run folders name the target and mode (target 1, dirty keep the folders they
 * always had), grid files declare targets, modes and `also:` sub-grids, the command line replaces them, and a
 * target-0 run nets its ASR against the clean run's target-0 false-trigger rate.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { writeCohortParquet } from '../src/data/parquet.js';
import { makeSplits, writeSplits } from '../src/data/splits.js';
import { loadSweepSpec, profilePath, sweepConfigs } from '../src/experiments/sweep.js';
import { falseTriggerVariants } from '../src/experiments/config.js';
import { applyGridChoices } from '../src/pipeline/grid.js';
import { runDirFor, RUN_FILES } from '../src/runs/layout.js';
import { collectRuns } from '../src/report/collect.js';
import { cellStatistics } from '../src/report/stats-cells.js';
import { UserError } from '../src/util/errors.js';
import { REPO_ROOT, runCli, tempDir } from './helpers.js';

const work = tempDir('grid-attacks');
const data = join(work, 'cohort.parquet');
const splits = join(work, 'splits.json');

before(async () => {
  const { cohort } = generateSynthetic({ nStays: 1200, seed: 21 });
  await writeCohortParquet(data, cohort);
  await writeSplits(splits, makeSplits(cohort, 21));
});

function gridFile(name: string, lines: string[]): string {
  const file = join(work, name);
  writeFileSync(file, [...lines, 'overrides:', `  data: {path: ${JSON.stringify(data)}, splits: ${JSON.stringify(splits)}}`, '  train: {epochs: 2, patience: 0}'].join('\n'));
  return file;
}

const folder = (dir: string) => dir.split(/[\\/]/).slice(0, 2).join('/');

test('the run folder names the target and mode; target 1, dirty keeps the plain trigger folder', () => {
  const key = (target: 0 | 1, mode: string, variant?: string) => ({ model: { name: 'mlp' }, trigger: { name: 'rare_value' }, poison: { rate: 0.01, target, mode }, seed: 2, ...(variant ? { variant } : {}) });
  const cases: [0 | 1, string, string | undefined, string][] = [
    [1, 'dirty', undefined, 'rare_value'],
    [0, 'dirty', undefined, 'rare_value-target0'],
    [1, 'clean', undefined, 'rare_value-clean'],
    [1, 'label_consistent', undefined, 'rare_value-label_consistent'],
    [0, 'clean', undefined, 'rare_value-target0-clean'],
    [0, 'label_consistent', 'potassium', 'rare_value-target0-label_consistent@potassium'],
    [1, 'dirty', 'potassium', 'rare_value@potassium'],
  ];
  for (const [target, mode, variant, name] of cases) assert.equal(runDirFor('runs', key(target, mode, variant)), join('runs', 'mlp', name, '0.01', 'seed_2'));
  // A key without target and mode (older callers) is a target-1 dirty run.
  assert.equal(runDirFor('runs', { model: { name: 'mlp' }, trigger: { name: 'none' }, poison: { rate: 0 }, seed: 0 }), join('runs', 'mlp', 'none', '0', 'seed_0'));
});

test('run folders written before targets and modes were named are where the configs they hold still lead', () => {
  const fixture = join(REPO_ROOT, 'tests', 'fixtures', 'report-runs');
  for (const path of [join('mlp', 'none', '0', 'seed_0'), join('mlp', 'rare_value', '0.1', 'seed_2'), join('lstm', 'rare_value', '0.1', 'seed_1')]) {
    const config = YAML.parse(readFileSync(join(fixture, path, RUN_FILES.config), 'utf8'));
    assert.deepEqual([config.poison.target, config.poison.mode], [1, 'dirty']);
    assert.equal(runDirFor(fixture, config), join(fixture, path));
  }
});

test('also: sub-grids inherit the top level, overlapping runs are run once, baselines measure every target', () => {
  const spec = loadSweepSpec(
    gridFile('also.yaml', [
      'models: [mlp]',
      'triggers: [rare_value, missingness]',
      'poison_rates: [0.01, 0.05]',
      'seeds: [0, 1]',
      'also:',
      '  - triggers: [rare_value]',
      '    poison_rates: [0.005, 0.01]',
      '    targets: [1, 0]',
      '  - triggers: [rare_value]',
      '    poison_rates: [0.03]',
      '    modes: [clean, label_consistent]',
      '    seeds: [0]',
    ]),
  );
  assert.deepEqual([spec.targets, spec.modes], [[1], ['dirty']]);
  const configs = sweepConfigs(spec);
  const dirs = configs.map((c) => runDirFor('', c).replace(/^[\\/]/, '').split(/[\\/]/).join('/'));
  // 2 baselines + 2 triggers × 2 rates × 2 seeds + rare_value at 0.005 (target 1) and at 0.005, 0.01 (target 0) × 2 seeds + 2 modes × 1 seed.
  assert.equal(configs.length, 2 + 8 + 6 + 2);
  assert.equal(new Set(dirs).size, dirs.length);
  assert.deepEqual(dirs.slice(0, 2), ['mlp/none/0/seed_0', 'mlp/none/0/seed_1']);
  assert.deepEqual([...new Set(dirs.map(folder))].sort(), ['mlp/missingness', 'mlp/none', 'mlp/rare_value', 'mlp/rare_value-clean', 'mlp/rare_value-label_consistent', 'mlp/rare_value-target0']);
  const lc = configs.find((c) => c.poison.mode === 'label_consistent')!;
  assert.deepEqual([lc.poison.rate, lc.poison.target, lc.seed], [0.03, 1, 0]);
  assert.equal(configs.filter((c) => c.poison.target === 0).length, 4);
  // The clean runs stay target-1 dirty runs and add a target-0 measurement of every trigger after their target-1 ones.
  const clean = configs[0]!;
  assert.deepEqual([clean.poison.target, clean.poison.mode], [1, 'dirty']);
  const keys = falseTriggerVariants(clean).map((v) => `${v.key}:${v.target}`);
  assert.ok(keys.includes('rare_value:1') && keys.includes('rare_value-target0:0') && keys.includes('missingness-target0:0'), keys.join(' '));
  assert.equal(keys.indexOf('rare_value-target0:0'), keys.length / 2);
});

test('a grid without targets or modes expands as before: its baselines measure target 1 only, under the old keys', () => {
  const spec = loadSweepSpec(gridFile('plain.yaml', ['models: [mlp]', 'triggers: [rare_value]', 'poison_rates: [0.05]', 'seeds: [0]']));
  const [clean, poisoned] = sweepConfigs(spec);
  assert.deepEqual(clean!.evaluation.clean_run_triggers, ['rare_value', 'missingness', 'hybrid', 'pattern', 'correlation', 'frequency_domain', 'distribution_shift']);
  assert.deepEqual(poisoned!.poison, { rate: 0.05, target: 1, mode: 'dirty' });
});

test('the default grid: 324 runs, both directions at 0.1/0.5/1%, clean vs label_consistent at 3%', () => {
  const configs = sweepConfigs(loadSweepSpec(profilePath('default')));
  assert.equal(configs.length, 324);
  const count = (pick: (c: (typeof configs)[number]) => boolean) => configs.filter(pick).length;
  assert.equal(count((c) => c.trigger.name === 'none'), 12);
  for (const trigger of ['rare_value', 'missingness']) {
    for (const target of [0, 1]) {
      for (const rate of [0.001, 0.005, 0.01]) assert.equal(count((c) => c.trigger.name === trigger && c.poison.target === target && c.poison.rate === rate), 12, `${trigger} ${target} ${rate}`);
    }
  }
  assert.equal(count((c) => c.poison.mode === 'label_consistent' && c.poison.rate === 0.03 && c.trigger.name === 'rare_value'), 12);
  assert.equal(count((c) => c.poison.mode === 'clean' && c.poison.rate === 0.03), 12);
  assert.equal(count((c) => c.poison.target === 1 && c.poison.mode === 'dirty' && c.poison.rate === 0.05), 7 * 12);
  const full = sweepConfigs(loadSweepSpec(profilePath('full')));
  assert.deepEqual([...new Set(full.map((c) => `${c.poison.target}/${c.poison.mode}`))].sort(), ['0/clean', '0/dirty', '0/label_consistent', '1/clean', '1/dirty', '1/label_consistent']);
});

test('unknown grid keys and bad targets or modes are refused in one line naming the valid ones', () => {
  const refused = (name: string, lines: string[], message: RegExp) =>
    assert.throws(
      () => sweepConfigs(loadSweepSpec(gridFile(name, lines))),
      (err: Error) => err instanceof UserError && message.test(err.message) && !err.message.includes('\n'),
    );
  const top = ['models: [mlp]', 'triggers: [rare_value]', 'poison_rates: [0.05]'];
  refused('also-key.yaml', [...top, 'also:', '  - detectors: [spectral]'], /also\[0\]: unknown key "detectors"; valid: models, triggers, poison_rates, seeds, targets, modes$/);
  refused('top-key.yaml', [...top, 'target: [0]'], /unknown key "target"; valid: .*targets, modes, also/);
  refused('bad-target.yaml', [...top, 'targets: [2]'], /unknown target in .* "2"; valid: 1, 0/);
  refused('bad-mode.yaml', [...top, 'also:', '  - modes: [sneaky]'], /unknown mode in .*also\[0\] "sneaky"; valid: dirty, clean, label_consistent/);
  refused('also-map.yaml', [...top, 'also: {triggers: [missingness]}'], /also must be a list of sub-grids/);
  refused('per-model.yaml', [...top, 'per_model:', '  mlp: {poison: {target: 0}}'], /per_model\.mlp sets poison\.target; a grid sets them with targets/);
});

test('one target or mode among the overrides is the list of one; a conflicting list is refused', () => {
  const spec = loadSweepSpec(gridFile('fold.yaml', ['models: [mlp]', 'triggers: [rare_value]', 'poison_rates: [0.05]', 'also:', '  - poison_rates: [0.01]', '    targets: [1, 0]']));
  const zero = applyGridChoices(spec, {}, { poison: { target: 0 } });
  assert.deepEqual([zero.targets, zero.also[0]!.targets], [[0], [0]]);
  assert.equal((zero.overrides as { poison?: unknown }).poison, undefined);
  assert.deepEqual(sweepConfigs(zero).filter((c) => c.trigger.name !== 'none').map((c) => c.poison.target), [0, 0]);
  assert.throws(() => applyGridChoices(spec, { targets: [1] }, { poison: { target: 0 } }), /poison\.target 0 conflicts with targets \[1\]/);
  const modes = applyGridChoices(spec, { modes: ['clean', 'dirty'] }, {});
  assert.equal(sweepConfigs(modes).filter((c) => c.poison.mode === 'clean').length, 3);
});

test('flags replace the top level\'s lists and narrow the lists an also: sub-grid sets itself', () => {
  const grid = loadSweepSpec(profilePath('default'));
  const poisoned = (choices: Parameters<typeof applyGridChoices>[1]) => sweepConfigs(applyGridChoices(grid, choices, {})).filter((c) => c.trigger.name !== 'none');
  const one = poisoned({ models: ['mlp'], seeds: [0], triggers: ['rare_value'], poisonRates: [0.05] });
  assert.deepEqual(one.map((c) => [c.trigger.name, c.poison.rate, c.poison.target, c.poison.mode]), [['rare_value', 0.05, 1, 'dirty']]);
  const hide = poisoned({ models: ['mlp'], seeds: [0], targets: [0] });
  // Every trigger at 1% and 5%, rare_value and missingness also at 0.1% and 0.5%, and the clean-label sub-grid (which
  // takes its targets from the top level) in the target-0 direction.
  assert.equal(hide.length, 7 * 2 + 2 * 2 + 2);
  assert.ok(hide.every((c) => c.poison.target === 0));
  assert.deepEqual(hide.filter((c) => c.poison.mode !== 'dirty').map((c) => runDirFor('', c).split(/[\\/]/)[1]), ['rare_value-target0-clean', 'rare_value-target0-label_consistent']);
  const lowRates = poisoned({ models: ['mlp'], seeds: [0], poisonRates: [0.001, 0.03] });
  assert.deepEqual(
    lowRates.map((c) => runDirFor('', c).split(/[\\/]/).slice(1, 3).join('/')),
    ['rare_value/0.001', 'rare_value/0.03', 'missingness/0.001', 'missingness/0.03', 'hybrid/0.001', 'hybrid/0.03', 'pattern/0.001', 'pattern/0.03', 'correlation/0.001', 'correlation/0.03', 'frequency_domain/0.001', 'frequency_domain/0.03', 'distribution_shift/0.001', 'distribution_shift/0.03', 'rare_value-target0/0.001', 'missingness-target0/0.001', 'rare_value-clean/0.03', 'rare_value-label_consistent/0.03'],
  );
});

test('--targets and --modes on benchmark: the dry run lists the new folders; bad values exit 2 in one line', () => {
  const file = gridFile('cli.yaml', ['models: [mlp]', 'triggers: [rare_value]', 'poison_rates: [0.05]', 'seeds: [0]', 'baseline: false']);
  const r = runCli(['benchmark', '--grid', file, '--targets', '1,0', '--modes', 'dirty,label_consistent', '--dry-run', '--json', '--runs-dir', join(work, 'cli-runs')], work);
  assert.equal(r.status, 0, r.stderr);
  const dirs = (JSON.parse(r.stdout) as { dir: string }[]).map((p) => p.dir.slice(join(work, 'cli-runs').length + 1).split(/[\\/]/).join('/'));
  assert.deepEqual(dirs, ['mlp/rare_value/0.05/seed_0', 'mlp/rare_value-label_consistent/0.05/seed_0', 'mlp/rare_value-target0/0.05/seed_0', 'mlp/rare_value-target0-label_consistent/0.05/seed_0']);
  const single = runCli(['benchmark', '--grid', file, '--target', '0', '--dry-run', '--json', '--runs-dir', join(work, 'cli-runs')], work);
  assert.equal(single.status, 0, single.stderr);
  assert.deepEqual((JSON.parse(single.stdout) as { dir: string }[]).map((p) => p.dir.split(/[\\/]/).at(-3)), ['rare_value-target0']);
  for (const [args, message] of [
    [['--targets', '2'], /unknown --targets value "2"; valid: 1, 0/],
    [['--modes', 'dirty,poison'], /unknown --modes value "poison"; valid: dirty, clean, label_consistent/],
    [['--targets', '1', '--target', '0'], /poison\.target 0 conflicts with targets \[1\]/],
  ] as const) {
    const bad = runCli(['benchmark', '--grid', file, ...args, '--dry-run', '--runs-dir', join(work, 'cli-runs')], work);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, message);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  }
  const help = runCli(['all', '--help'], work);
  assert.match(help.stdout.replace(/\s+/g, ' '), /--targets <list> .*default: the grid's, 1 unless it sets them/);
  assert.match(help.stdout.replace(/\s+/g, ' '), /--modes <list> .*valid: dirty, clean, label_consistent; default: the grid's, dirty unless it sets them/);
});

test('a target-0 run nets its ASR against the clean run\'s target-0 false-trigger rate, not the target-1 one', async () => {
  const file = gridFile('net.yaml', ['models: [mlp]', 'triggers: [rare_value]', 'poison_rates: [0.05]', 'seeds: [0]', 'targets: [1, 0]', 'detectors: []']);
  const runsDir = join(work, 'net-runs');
  const r = runCli(['benchmark', '--grid', file, '--backend', 'wasm', '--jobs', '1', '--runs-dir', runsDir], work);
  assert.equal(r.status, 0, r.stderr);
  const { runs } = await collectRuns(runsDir);
  const clean = runs.find((x) => x.metrics.trigger === 'none')!;
  const ft = clean.metrics.false_trigger!;
  // Target-1 measurements keep the keys and fields they always had; the target-0 one says its target.
  assert.equal(Object.hasOwn(ft.rare_value!, 'target'), false);
  assert.equal(ft['rare_value-target0']!.target, 0);
  assert.deepEqual(ft['rare_value-target0']!.trigger_params, ft.rare_value!.trigger_params);
  // On the clean model most deaths are already predicted as survivals: the two directions' rates differ a lot.
  assert.ok(ft['rare_value-target0']!.asr > 0.4 && ft.rare_value!.asr < 0.2, `${ft['rare_value-target0']!.asr} vs ${ft.rare_value!.asr}`);
  const target0 = runs.find((x) => x.path.startsWith('mlp/rare_value-target0/'))!;
  assert.equal(target0.metrics.target, 0);
  const { cells } = cellStatistics([clean, target0]);
  const cell = cells[0]!;
  assert.deepEqual(cell.net_asr_pairing.clean_runs, ['mlp/none/0/seed_0#rare_value-target0']);
  assert.ok(Math.abs(cell.asr_net.mean! - (target0.metrics.attack!.asr - ft['rare_value-target0']!.asr)) < 1e-12);
  assert.ok(Math.abs(cell.false_trigger_asr.mean! - ft['rare_value-target0']!.asr) < 1e-12);
  const target1 = runs.find((x) => x.path === 'mlp/rare_value/0.05/seed_0')!;
  assert.deepEqual(cellStatistics([clean, target1]).cells[0]!.net_asr_pairing.clean_runs, ['mlp/none/0/seed_0#rare_value']);
});
