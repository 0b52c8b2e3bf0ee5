import type { Command } from 'commander';
import { COHORT_SOURCES } from '../data/sources/registry.js';
import { DETECTOR_REGISTRY } from '../detectors/registry.js';
import { MODEL_REGISTRY } from '../models/registry.js';
import { TRIGGER_REGISTRY } from '../triggers/registry.js';
import { UserError } from '../util/errors.js';
import { describeParams, type Plugin, type Registry } from '../util/plugin.js';

const FAMILIES: Record<string, Registry<Plugin>> = Object.assign(Object.create(null) as Record<string, Registry<Plugin>>, {
  triggers: TRIGGER_REGISTRY,
  models: MODEL_REGISTRY,
  detectors: DETECTOR_REGISTRY,
  cohorts: COHORT_SOURCES,
});

/** `backdoor plugins [family]`: every member's parameters with their defaults, units and sources, from the schemas. */
export function registerPlugins(program: Command): void {
  program
    .command('plugins')
    .description(`List the triggers, models, detectors and cohort sources with their parameters and defaults (family: ${Object.keys(FAMILIES).join(', ')})`)
    .argument('[family]', 'one family only')
    .action((family?: string) => {
      if (family !== undefined && !Object.hasOwn(FAMILIES, family)) throw new UserError(`unknown family "${family}"; valid: ${Object.keys(FAMILIES).join(', ')}`);
      for (const [name, registry] of Object.entries(FAMILIES)) {
        if (family !== undefined && name !== family) continue;
        process.stdout.write(`${name}:\n`);
        for (const m of registry.members()) process.stdout.write(`  ${m.name}: ${m.description}\n`);
        const params = describeParams(registry);
        if (params) process.stdout.write(`${params}\n`);
      }
    });
}
