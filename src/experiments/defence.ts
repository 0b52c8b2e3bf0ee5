import { defenceEffectivenessRate } from '../metrics/defence.js';
import type { DefenceReport, DefenceSide } from '../runs/detection-records.js';
import { trainModel } from '../train/trainer.js';
import type { RunContext } from './load-run.js';
import { evaluateModel, prepareRun } from './prepare.js';

function count(mask: Uint8Array): number {
  let k = 0;
  for (const v of mask) k += v;
  return k;
}

function sideOf(m: { clean: { auroc: number; accuracy: number; threshold: number }; attack: { asr: number } | null }): DefenceSide {
  return { clean_auroc: m.clean.auroc, clean_accuracy: m.clean.accuracy, asr: m.attack ? m.attack.asr : null, threshold: m.clean.threshold };
}

function fmt(x: number | null): string {
  return x === null ? '—' : x.toFixed(3);
}

/** Retrains the run's config, same seed, on the training split minus the flagged rows, and compares. */
export async function defend(run: RunContext, method: string, flagged: Uint8Array, log: (line: string) => void = () => {}): Promise<DefenceReport> {
  const before = sideOf(run.metrics);
  const nFlagged = count(flagged);
  let flaggedPoisoned = 0;
  for (let i = 0; i < flagged.length; i++) if (flagged[i] === 1 && run.poisonedMask[i] === 1) flaggedPoisoned++;
  const poisonedBefore = count(run.poisonedMask);
  let after = before;
  let training: DefenceReport['training'] = null;
  if (nFlagged > 0) {
    const prepared = prepareRun(run.config, run.dataset, undefined, { dropTrainRows: flagged });
    const model = prepared.modelSpec.build(prepared.trainFeatures.rowShape, prepared.modelConfig, run.config.seed, prepared.trainFeatures);
    try {
      const trained = await trainModel({
        model,
        train: prepared.trainFeatures,
        trainLabels: prepared.poisoned.cohort.labels,
        val: prepared.valFeatures,
        valLabels: run.dataset.val.labels,
        config: run.config.train,
        seed: run.config.seed,
      });
      training = { best_epoch: trained.bestEpoch, epochs_run: trained.epochsRun, best_val_auroc: trained.bestValAuroc };
      after = sideOf(evaluateModel(model, prepared, run.dataset, run.config));
    } finally {
      model.dispose();
    }
    log(`${method} defence: retrained on ${prepared.trainFeatures.n} rows; ASR ${fmt(before.asr)} → ${fmt(after.asr)}, clean AUROC ${fmt(before.clean_auroc)} → ${fmt(after.clean_auroc)}`);
  }
  const hasAttack = before.asr !== null && after.asr !== null;
  return {
    method,
    n_train: flagged.length,
    flagged: nFlagged,
    flagged_poisoned: flaggedPoisoned,
    poisoned_before: poisonedBefore,
    poisoned_after: poisonedBefore - flaggedPoisoned,
    retrained: nFlagged > 0,
    before,
    after,
    effect: {
      asr_drop: hasAttack ? before.asr! - after.asr! : null,
      clean_accuracy_change: after.clean_accuracy - before.clean_accuracy,
      clean_auroc_change: after.clean_auroc - before.clean_auroc,
      der: hasAttack ? defenceEffectivenessRate(before.asr!, after.asr!, before.clean_auroc, after.clean_auroc) : null,
    },
    training,
  };
}
