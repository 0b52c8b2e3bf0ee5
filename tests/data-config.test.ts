/**
 * Run configuration: override parsing, deep merge, precedence (defaults < model/trigger files < --config file <
 * overrides), switching a model or trigger by name, and one-line UserErrors naming the valid choices.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';

import { CONFIG_DIR, mergeConfig, parseOverrides, resolveRunConfig, splitTriggerConfig, triggerDefaults, type RunConfig } from '../src/experiments/config.js';
import { triggerNames } from '../src/triggers/registry.js';
import { UserError } from '../src/util/errors.js';

function userError(...patterns: RegExp[]) {
  return (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    assert.ok(!err.message.includes('\n'), `not one line: ${err.message}`);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  };
}

/** The training settings these tests are about (other keys may be added to the section over time). */
function coreTrain(train: RunConfig['train']) {
  const { epochs, batch_size, learning_rate, patience, pos_weight } = train;
  return { epochs, batch_size, learning_rate, patience, pos_weight };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'backdoor-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configFile(name: string, tree: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof tree === 'string' ? tree : YAML.stringify(tree));
  return path;
}

describe('parseOverrides and mergeConfig', () => {
  test('dotted keys become nested mappings; values are YAML', () => {
    assert.deepEqual(parseOverrides(['train.epochs=3', 'model.hidden_units=[64, 32]', 'trigger.name=rare_value', 'trigger.hours=[-1,-2]', 'seed=9', 'data.path=a=b.parquet', 'evaluation.threshold=max_f1', 'trigger.value=null']), {
      train: { epochs: 3 },
      model: { hidden_units: [64, 32] },
      trigger: { name: 'rare_value', hours: [-1, -2], value: null },
      seed: 9,
      data: { path: 'a=b.parquet' },
      evaluation: { threshold: 'max_f1' },
    });
    // A later override of the same key wins; a string that is not valid YAML stays a string.
    assert.deepEqual(parseOverrides(['train.epochs=3', 'train.epochs=4', 'data.path=[oops']), { train: { epochs: 4 }, data: { path: '[oops' } });
    for (const bad of ['epochs', '=3']) {
      assert.throws(() => parseOverrides([bad]), userError(/must look like key=value, e\.g\. train\.epochs=5/));
    }
  });

  test('mappings merge key by key; lists and scalars replace; inputs are not mutated', () => {
    const a = { train: { epochs: 40, batch_size: 128 }, model: { hidden_units: [256, 128] }, seed: 0 };
    const b = { train: { epochs: 7 }, model: { hidden_units: [8] } };
    const c = { train: { epochs: 3 }, seed: 5 };
    const aCopy = structuredClone(a);
    const merged = mergeConfig(a, b, c);
    assert.deepEqual(merged, { train: { epochs: 3, batch_size: 128 }, model: { hidden_units: [8] }, seed: 5 });
    assert.deepEqual(a, aCopy);
    (merged.model as { hidden_units: number[] }).hidden_units.push(1);
    assert.deepEqual(b.model.hidden_units, [8], 'the result does not alias a layer');
  });
});

describe('resolveRunConfig', () => {
  test('defaults: base.yaml with configs/model/mlp.yaml over it', async () => {
    const mlpYaml = YAML.parse(await readFile(join(CONFIG_DIR, 'model', 'mlp.yaml'), 'utf8'));
    assert.equal(mlpYaml.train.epochs, 40);
    const cfg = resolveRunConfig();
    assert.deepEqual(cfg.model, { name: 'mlp', hidden_units: [256, 128], activation: 'relu', dropout: 0.3 });
    // mlp.yaml sets batch_size 128 and patience 10 over base.yaml's 256 and 5; pos_weight comes from base.yaml.
    assert.deepEqual(coreTrain(cfg.train), { epochs: 40, batch_size: 128, learning_rate: 0.001, patience: 10, pos_weight: 1 });
    assert.deepEqual(cfg.trigger, { name: 'none' });
    assert.deepEqual(cfg.poison, { rate: 0, target: 1, mode: 'dirty' });
    assert.equal(cfg.seed, 0);
    assert.equal(cfg.backend, 'auto');
    assert.deepEqual(cfg.data, { path: 'data/dev/dev.parquet', splits: 'data/splits/splits.json' });
    assert.deepEqual(cfg.evaluation, { threshold: 0.5, clean_run_triggers: triggerNames().filter((t) => t !== 'none') });
  });

  test('precedence: mlp.yaml 40 < config file 7 < override 3', async () => {
    const path = await configFile('epochs.yaml', { train: { epochs: 7, batch_size: 64 }, trigger: { name: 'rare_value' }, poison: { rate: 0.05 }, seed: 11 });
    const fromFile = resolveRunConfig({ configFile: path });
    assert.equal(fromFile.train.epochs, 7);
    assert.equal(fromFile.train.batch_size, 64);
    assert.equal(fromFile.train.patience, 10, 'keys the file does not set keep the model default');
    assert.deepEqual(fromFile.poison, { rate: 0.05, target: 1, mode: 'dirty' });
    assert.equal(fromFile.seed, 11);
    const withOverride = resolveRunConfig({ configFile: path, overrides: parseOverrides(['train.epochs=3', 'poison.target=0']) });
    assert.equal(withOverride.train.epochs, 3);
    assert.equal(withOverride.train.batch_size, 64);
    assert.deepEqual(withOverride.poison, { rate: 0.05, target: 0, mode: 'dirty' });
    // Trigger none with a poison rate relabels rows without a trigger: refused, never run as if it were a clean run.
    assert.throws(() => resolveRunConfig({ overrides: parseOverrides(['poison.rate=0.05']) }), userError(/^trigger none with poison rate 0.05 would relabel rows without a trigger/));
    // Overrides alone also beat the model file.
    assert.equal(resolveRunConfig({ overrides: parseOverrides(['train.epochs=2']) }).train.epochs, 2);
  });

  test('trigger parameters: yaml defaults < config file < overrides; switching the name discards the others', async () => {
    const path = await configFile('rare.yaml', { trigger: { name: 'rare_value', percentile: 99, margin: 0.2 } });
    const rare = resolveRunConfig({ configFile: path });
    assert.deepEqual(rare.trigger, { ...triggerDefaults('rare_value'), name: 'rare_value', percentile: 99, margin: 0.2 });
    assert.deepEqual(triggerDefaults('rare_value'), { variable: 'glucose', hours: [-1], mode: 'percentile', percentile: 99.9, margin: 0.1, value: null });
    // An override without a name edits the configured trigger.
    const tuned = resolveRunConfig({ configFile: path, overrides: parseOverrides(['trigger.percentile=98']) });
    assert.equal(tuned.trigger.percentile, 98);
    assert.equal(tuned.trigger.margin, 0.2);
    // An override naming another trigger drops the file's rare_value parameters.
    const switched = resolveRunConfig({ configFile: path, overrides: parseOverrides(['trigger.name=missingness']) });
    assert.deepEqual(switched.trigger, { name: 'missingness', ...triggerDefaults('missingness') });
    assert.ok(!('percentile' in switched.trigger) && !('margin' in switched.trigger));
    assert.deepEqual(splitTriggerConfig(switched.trigger), { name: 'missingness', params: triggerDefaults('missingness') });
    // ...but keeps override parameters given alongside the new name.
    const switchedTuned = resolveRunConfig({ configFile: path, overrides: parseOverrides(['trigger.name=missingness', 'trigger.hours=[1,2]']) });
    assert.deepEqual(switchedTuned.trigger.hours, [1, 2]);
    assert.ok(!('percentile' in switchedTuned.trigger));
  });

  test('switching the model by name discards the other model’s parameters and training defaults', async () => {
    const path = await configFile('mlp-tuned.yaml', { model: { name: 'mlp', hidden_units: [8], dropout: 0.1 } });
    const mlp = resolveRunConfig({ configFile: path });
    assert.deepEqual(mlp.model, { name: 'mlp', hidden_units: [8], activation: 'relu', dropout: 0.1 });
    const switched = resolveRunConfig({ configFile: path, overrides: parseOverrides(['model.name=lstm', 'model.layers=2']) });
    // lstm's own schema defaults (dropout 0.2), not the mlp's 0.1 from the lower layer.
    assert.deepEqual(switched.model, { name: 'lstm', hidden_units: 32, layers: 2, pooling: 'last', dropout: 0.2 });
    // Training settings from configs/model/lstm.yaml (batch 256, learning rate 0.003), not mlp.yaml's.
    assert.deepEqual(coreTrain(switched.train), { epochs: 40, batch_size: 256, learning_rate: 0.003, patience: 5, pos_weight: 1 });
  });

  test('invalid settings are one-line UserErrors that name the valid choices', async () => {
    const o = (...pairs: string[]) => ({ overrides: parseOverrides(pairs) });
    assert.throws(() => resolveRunConfig(o('foo.bar=1')), userError(/unknown config section "foo"; valid: data, model, trigger, poison, seed, backend, train, evaluation/));
    const badSection = await configFile('section.yaml', { training: { epochs: 3 } });
    assert.throws(() => resolveRunConfig({ configFile: badSection }), userError(/unknown config section "training"; valid: data, model/));
    // A scalar where a section belongs used to be dropped silently (a `trigger=rare_value` run trained clean).
    assert.throws(() => resolveRunConfig(o('trigger=rare_value')), userError(/config section "trigger" must be a mapping of key: value, got "rare_value"; set its keys, e.g\. trigger\.name=/));
    const scalarModel = await configFile('scalar.yaml', 'model: mlp\n');
    assert.throws(() => resolveRunConfig({ configFile: scalarModel }), userError(/config section "model" must be a mapping/));
    assert.throws(() => resolveRunConfig(o('train=5')), userError(/config section "train" must be a mapping of key: value, got 5; set its keys, e\.g\. train\.epochs=/));
    assert.throws(() => resolveRunConfig(o('train.epoch=3')), userError(/unknown train setting "epoch"; valid: epochs, batch_size, learning_rate, patience, pos_weight/));
    assert.throws(() => resolveRunConfig(o('poison.rate=1.0')), userError(/poison rate must be a number in \[0, 1\), got 1/));
    assert.throws(() => resolveRunConfig(o('poison.rate=-0.1')), userError(/poison rate must be a number in \[0, 1\), got -0\.1/));
    assert.throws(() => resolveRunConfig(o('poison.target=2')), userError(/poison target must be 0 or 1, got 2/));
    assert.throws(() => resolveRunConfig(o('poison.mode=sneaky')), userError(/unknown poison mode "sneaky"; valid: dirty, clean/));
    assert.throws(() => resolveRunConfig(o('model.name=gpt')), userError(/unknown model "gpt"; valid: mlp/));
    assert.throws(
      () => resolveRunConfig(o('trigger.name=nope')),
      userError(new RegExp(`unknown trigger "nope"; valid: ${escape(triggerNames().join(', '))}$`)),
    );
    assert.ok(triggerNames().includes('rare_value') && triggerNames().length >= 8);
    assert.throws(() => resolveRunConfig(o('backend=gpu')), userError(/unknown backend "gpu"; valid: auto, /));
    assert.throws(() => resolveRunConfig(o('seed=-1')), userError(/seed must be an integer ≥ 0, got -1/));
    assert.throws(() => resolveRunConfig(o('evaluation.threshold=1.5')), userError(/evaluation\.threshold must be a number in \(0, 1\), max_f1 or youden; got 1\.5/));
    assert.throws(() => resolveRunConfig(o('evaluation.clean_run_triggers=[none, bogus]')), userError(/unknown trigger "bogus"; valid: /));
    assert.throws(() => resolveRunConfig({ configFile: join(dir, 'absent.yaml') }), userError(/config file not found: .*absent\.yaml/));
    const badYaml = await configFile('bad.yaml', 'train: [1, 2\n');
    assert.throws(() => resolveRunConfig({ configFile: badYaml }), userError(/config file .*bad\.yaml is not valid YAML/));
    const list = await configFile('list.yaml', '- 1\n- 2\n');
    assert.throws(() => resolveRunConfig({ configFile: list }), userError(/must be a YAML mapping of key: value/));
    assert.throws(() => triggerDefaults('nope'), userError(/unknown trigger "nope"; valid: none, rare_value/));
  });
});
