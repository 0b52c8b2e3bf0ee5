/**
 * The plugin contract, run over every registered member of every family (as ESLint's RuleTester runs every
 * rule): the schema is complete and its defaults validate, unknown keys and out-of-range values are refused
 * with one line naming the valid choices, names are looked up by own property only, and each member runs on a
 * tiny cohort. No member list is written here: a new trigger, model, detector or cohort source is covered by
 * registering it. Then the safe object model of config overrides and files, through the real CLI.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { stayView, cloneCohort } from '../src/data/cohort.js';
import { FEATURIZERS, type Features } from '../src/data/features/index.js';
import { COHORT_SOURCES } from '../src/data/sources/registry.js';
import { SYNTHETIC_VARIABLES } from '../src/data/sources/synthetic-schema.js';
import { generateSynthetic } from '../src/data/sources/synthetic.js';
import { DETECTOR_REGISTRY } from '../src/detectors/registry.js';
import { selectBackend } from '../src/engine/index.js';
import { loadYamlFile, parseOverrides, resolveRunConfig } from '../src/experiments/config.js';
import { MODEL_REGISTRY } from '../src/models/registry.js';
import type { BuiltModel } from '../src/models/types.js';
import { TRIGGER_REGISTRY } from '../src/triggers/registry.js';
import { UserError } from '../src/util/errors.js';
import { createRegistry, defaultsOf, schemaProblems, validateParams, type ParamSpec, type Plugin, type Registry } from '../src/util/plugin.js';
import { runCli, tempDir } from './helpers.js';

const work = tempDir('plugins');
after(() => rmSync(work, { recursive: true, force: true }));

/** Asserts fn throws a one-line UserError whose message matches re. */
function refuses(fn: () => unknown, re: RegExp, what?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UserError, `${what ?? re}: not a UserError: ${String(e)}`);
    assert.ok(!e.message.includes('\n'), `multi-line: ${e.message}`);
    assert.match(e.message, re, what);
    return true;
  });
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A value just outside a number parameter's range, or undefined when it has no bound to cross. */
function outOfRange(spec: ParamSpec): number | undefined {
  if (spec.type !== 'number' && spec.type !== 'integer') return undefined;
  if (spec.choices) return Math.max(...(spec.choices as number[])) + 1;
  if (spec.max !== undefined) return spec.maxOpen ? spec.max : spec.max + 1;
  if (spec.min !== undefined) return spec.minOpen ? spec.min : spec.min - 1;
  return undefined;
}

/** What every family's members must satisfy; `runs` checks a member works on real (tiny) data. */
function contract<T extends Plugin>(registry: Registry<T>, runs: (member: T) => void | Promise<void>): void {
  describe(`${registry.family} contract`, () => {
    test('names: own-property lookup, prototype names refused with the valid list', () => {
      assert.ok(registry.names().length > 0);
      assert.equal(new Set(registry.names()).size, registry.names().length);
      for (const name of registry.names()) assert.equal(registry.get(name).name, name);
      const valid = escape(registry.names().join(', '));
      for (const bad of ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '']) {
        assert.equal(registry.has(bad), false, bad);
        refuses(() => registry.get(bad), new RegExp(`^unknown ${registry.family} "${escape(bad)}"; valid: ${valid}$`), bad);
      }
    });

    for (const member of registry.members()) {
      describe(member.name, () => {
        test('schema is complete (description, default) and its defaults validate unchanged', () => {
          assert.ok(member.description.length > 0 && !member.description.includes('\n'));
          assert.deepEqual(schemaProblems(member.name, member.params), []);
          const defaults = defaultsOf(member.params);
          assert.deepEqual(validateParams(member.name, member.params, defaults), defaults);
          assert.deepEqual(validateParams(member.name, member.params, {}), defaults, 'absent keys take the defaults');
        });

        test('unknown and prototype-named keys are refused with the valid keys', () => {
          const keys = Object.keys(member.params);
          const valid = keys.length ? escape(keys.join(', ')) : '\\(none, it takes no parameters\\)';
          for (const key of ['bogus_key', '__proto__', 'constructor', 'prototype']) {
            const raw = JSON.parse(`{${JSON.stringify(key)}: 1}`) as Record<string, unknown>;
            refuses(() => validateParams(member.name, member.params, raw), new RegExp(`unknown (\\w+ )?parameter "${key}"; valid: ${valid}$`), key);
          }
          assert.equal(({} as Record<string, unknown>).bogus_key, undefined);
        });

        test('out-of-range numbers, wrong types and unknown choices are refused with the valid values', () => {
          for (const [key, spec] of Object.entries(member.params)) {
            const where = escape(`${member.name}.${key}`);
            const beyond = outOfRange(spec);
            if (beyond !== undefined) refuses(() => validateParams(member.name, member.params, { [key]: beyond }), new RegExp(`^${where}: bad value ${beyond}; valid: `), key);
            if (spec.type === 'string' && spec.choices) refuses(() => validateParams(member.name, member.params, { [key]: 'no_such_choice' }), new RegExp(`^${where}: bad value "no_such_choice"; valid: ${escape(spec.choices.join(', '))}$`), key);
            if (spec.type !== 'mapping') refuses(() => validateParams(member.name, member.params, { [key]: { nested: 1 } }), new RegExp(`^${where}: bad value \\{"nested":1\\}; valid: `), key);
          }
        });

        test('runs on a tiny cohort', async () => {
          await runs(member);
        });
      });
    }
  });
}

// A tiny cohort every member runs on: 160 synthetic stays, 24 hours.
const cohort = generateSynthetic({ nStays: 160, seed: 'plugin-contract' }).cohort;
const tabular = FEATURIZERS.tabular.transform(FEATURIZERS.tabular.fit(cohort), cohort);
const sequence = FEATURIZERS.sequence.transform(FEATURIZERS.sequence.fit(cohort), cohort);

function logits(model: BuiltModel, features: Features, rows: number): Float32Array {
  const size = features.rowShape.reduce((a, b) => a * b, 1);
  return tf.tidy(() => model.logits(tf.tensor(features.x.subarray(0, rows * size), [rows, ...features.rowShape])).dataSync() as Float32Array);
}

contract(TRIGGER_REGISTRY, (trigger) => {
  const params = trigger.resolve({}, { schema: cohort.schema, train: cohort });
  const touched = trigger.touched(params, cohort.schema);
  const edited = cloneCohort(cohort);
  for (let i = 0; i < 20; i++) trigger.apply(stayView(edited, i), params, cohort.schema);
  const changed = edited.series.some((x, k) => !Object.is(x, cohort.series[k]));
  // Only the clean baseline touches nothing; every other trigger edits a stay of 20 on its defaults.
  assert.equal(changed, touched.variables.length > 0, `${trigger.name}: touched ${touched.variables.join(', ')} but changed=${changed}`);
  for (const name of touched.variables) assert.ok(cohort.schema.variables.some((v) => v.name === name), name);
});

contract(MODEL_REGISTRY, async (spec) => {
  await selectBackend('wasm');
  const features = spec.view === 'tabular' ? tabular : sequence;
  const model = spec.build(features.rowShape, spec.resolveConfig({}), 'contract', features);
  try {
    const out = logits(model, features, 8);
    assert.equal(out.length, 8);
    assert.ok(out.every(Number.isFinite), `${spec.name}: non-finite logits`);
  } finally {
    model.dispose();
  }
});

contract(DETECTOR_REGISTRY, async (detector) => {
  await selectBackend('wasm');
  const mlp = MODEL_REGISTRY.get('mlp');
  const model = mlp.build(tabular.rowShape, mlp.resolveConfig({ hidden_units: [16] }), 'contract', tabular);
  try {
    const representation = () => {
      const h = tf.tidy(() => model.penultimate(tf.tensor(tabular.x, [tabular.n, ...tabular.rowShape])));
      const out = { rows: h.shape[0], cols: h.shape[1], data: Float64Array.from(h.dataSync()) };
      h.dispose();
      return out;
    };
    // The trusted validation split and a fresh-model factory (fine-pruning, STRIP, trigger inversion, ABL) are the tiny cohort itself.
    const validation = { features: tabular, labels: cohort.labels };
    const training = { build: () => mlp.build(tabular.rowShape, mlp.resolveConfig({ hidden_units: [16] }), 'contract-fresh', tabular), batchSize: 64, learningRate: 0.001 };
    const out = detector.score({ labels: cohort.labels, seed: 0, configuredRate: 0.05, features: tabular, model, representation, validation, training }, detector.resolve({}));
    assert.equal(out.scores.length, cohort.n);
    assert.equal(out.flagged.length, cohort.n);
    assert.ok(out.scores.every(Number.isFinite), `${detector.name}: non-finite scores`);
    JSON.stringify(out.details);
  } finally {
    model.dispose();
  }
});

contract(COHORT_SOURCES, (source) => {
  // Variable names are part of the contract: a name the shared schema uses means the same measurement.
  const variables = source.variables(defaultsOf(source.params));
  for (const v of variables ?? []) {
    const shared = SYNTHETIC_VARIABLES.find((s) => s.name === v.name);
    if (!shared) continue;
    assert.deepEqual([v.unit, v.kind, v.plausibleMin, v.plausibleMax], [shared.unit, shared.kind, shared.plausibleMin, shared.plausibleMax], `${source.name}.${v.name}`);
  }
  for (const key of source.required) assert.equal(source.params[key].default, null, `${source.name}.${key} is required, so it has no default`);
  // The CLI command is generated from the schema: one option per parameter, required ones enforced.
  const help = runCli(['cohort', source.name, '--help'], work);
  assert.equal(help.status, 0, help.stderr);
  for (const key of Object.keys(source.params)) assert.ok(help.stdout.includes(`--${key.replace(/_/g, '-')} `), `${source.name}: --${key} missing from --help`);
});

describe('cohort sources without required inputs build a cohort folder through the CLI', () => {
  for (const source of COHORT_SOURCES.members().filter((s) => s.required.length === 0)) {
    test(source.name, () => {
      const out = join(work, `cohort-${source.name}`);
      const r = runCli(['cohort', source.name, '--out', out, '--json', ...(source.params.n_stays ? ['--n-stays', '120'] : [])], work);
      assert.equal(r.status, 0, r.stderr);
      const report = JSON.parse(r.stdout) as { stays: number; source: string };
      assert.equal(report.source, source.name);
      assert.ok(report.stays > 0);
    });
  }
});

describe('createRegistry refuses malformed members', () => {
  const member = (name: string, params = {}) => ({ name, description: 'x', params });
  test('duplicate names, reserved names and incomplete schemas are programming errors', () => {
    assert.throws(() => createRegistry('thing', [member('a'), member('a')]), /thing "a" registered twice/);
    assert.throws(() => createRegistry('thing', [member('__proto__')]), /reserved/);
    assert.throws(() => createRegistry('thing', [member('b', { k: { type: 'integer', min: 1, default: 0, description: 'k' } })]), /defaults do not validate: b\.k: bad value 0/);
  });
});

// ---------------------------------------------------------------------------------------------
// Untrusted keys in overrides and config/grid files: one line, exit 2, and Object.prototype untouched.

describe('config keys never reach a prototype', () => {
  const cases: [string[], RegExp][] = [
    [['__proto__.x=1'], /^backdoor: error: unknown key "__proto__" at __proto__ in override "__proto__\.x=…"; valid: any key but __proto__, constructor, prototype$/],
    [['train.__proto__.epochs=1'], /unknown key "__proto__" at train\.__proto__ in override/],
    [['model.__proto__.x=1'], /unknown key "__proto__" at model\.__proto__ in override/],
    [['constructor.prototype.x=1'], /unknown key "constructor" at constructor in override/],
    [['trigger.prototype=1'], /unknown key "prototype" at trigger\.prototype in override/],
    [['data.path={__proto__: {x: 1}}'], /unknown key "__proto__" at data\.path\.__proto__ in override/],
    [['--model', '__proto__'], /^backdoor: error: unknown model "__proto__"; valid: mlp, /],
    [['--model', 'constructor'], /^backdoor: error: unknown model "constructor"; valid: mlp, /],
    [['model.name=toString'], /^backdoor: error: unknown model "toString"; valid: mlp, /],
    [['--trigger', 'hasOwnProperty'], /^backdoor: error: unknown trigger "hasOwnProperty"; valid: none, /],
  ];
  for (const [args, re] of cases) {
    test(`train ${args.join(' ')}`, () => {
      const r = runCli(['train', ...args, '--runs-dir', join(work, 'runs')], work);
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trim(), re);
    });
  }

  test('detect __proto__.threshold=0', () => {
    const r = runCli(['detect', '--run-dir', join(work, 'no-run'), '__proto__.threshold=0'], work);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr.trim(), /^backdoor: error: unknown key "__proto__" at __proto__ in override "__proto__\.threshold=…"/);
  });

  test('nested prototype keys in config and grid files are refused as unknown keys, not dropped', () => {
    const files: [string, string, RegExp][] = [
      ['nested.yaml', 'train:\n  __proto__:\n    epochs: 1\n', /unknown key "__proto__" at train\.__proto__ in config file /],
      ['top.yaml', '__proto__:\n  polluted: 1\n', /unknown key "__proto__" at __proto__ in config file /],
      ['list.yaml', 'trigger:\n  name: pattern\n  variables:\n    - constructor: 1\n', /unknown key "constructor" at trigger\.variables\[0\]\.constructor in config file /],
    ];
    for (const [name, text, re] of files) {
      const path = join(work, name);
      writeFileSync(path, text);
      refuses(() => loadYamlFile(path, 'config file'), re, name);
      refuses(() => resolveRunConfig({ configFile: path }), re, name);
    }
    const grid = join(work, 'grid.yaml');
    writeFileSync(grid, 'models: [mlp]\noverrides:\n  train:\n    __proto__: {epochs: 1}\n');
    const r = runCli(['benchmark', '--grid', grid, '--runs-dir', join(work, 'grid-runs')], work);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr.trim(), /^backdoor: error: unknown key "__proto__" at overrides\.train\.__proto__ in benchmark grid /);
  });

  test('in-process: every refused override leaves Object.prototype clean', () => {
    for (const pair of ['__proto__.polluted=1', 'train.__proto__.polluted=1', 'model.__proto__.polluted=1', 'evaluation.__proto__.polluted=1']) {
      refuses(() => resolveRunConfig({ overrides: parseOverrides([pair]) }), /unknown key "__proto__"/, pair);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
  });
});
