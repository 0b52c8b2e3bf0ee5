import * as tf from '@tensorflow/tfjs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';

/**
 * Saves a tf.LayersModel in the TF.js layers format (model.json + weights.bin), which tf.loadLayersModel reads.
 * The file:// handler ships only with tfjs-node, so the artifacts are written here.
 */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = new Uint8Array(artifacts.weightData as ArrayBuffer);
      const modelJson = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      await writeFile(join(dir, 'model.json'), JSON.stringify(modelJson));
      await writeFile(join(dir, 'weights.bin'), weights);
      return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    }),
  );
}

/** What model.json and weights.bin of a run folder hold, checked against each other. */
export interface ModelArtifacts {
  modelJson: Record<string, unknown> & { modelTopology?: unknown; format?: unknown };
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * Reads model.json and weights.bin: a missing file, invalid JSON, a malformed weights manifest or a weights.bin
 * whose size differs from the manifest's (truncated) is a one-line user error naming the file.
 */
export async function readModelArtifacts(dir: string): Promise<ModelArtifacts> {
  const jsonPath = join(dir, 'model.json');
  const binPath = join(dir, 'weights.bin');
  const damaged = (what: string) => new UserError(`${what}; the run folder is damaged (rerun it with --force)`);
  let modelJson: unknown;
  try {
    modelJson = JSON.parse(await readFile(jsonPath, 'utf8'));
  } catch (err) {
    throw damaged(`${jsonPath} is ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'not valid JSON'}`);
  }
  const manifest = (modelJson as { weightsManifest?: unknown } | null)?.weightsManifest;
  const specs = Array.isArray(manifest) && manifest.length === 1 ? (manifest[0] as { weights?: unknown })?.weights : undefined;
  const validSpec = (w: unknown) => {
    const e = w as { name?: unknown; shape?: unknown; dtype?: unknown } | null;
    return (
      typeof e === 'object' && e !== null && typeof e.name === 'string' && typeof e.dtype === 'string' && Object.hasOwn(DTYPE_BYTES, e.dtype) &&
      Array.isArray(e.shape) && e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)
    );
  };
  if (typeof modelJson !== 'object' || modelJson === null || !Array.isArray(specs) || !specs.every(validSpec)) {
    throw damaged(`${jsonPath} has no valid weights manifest`);
  }
  const weightSpecs = specs as tf.io.WeightsManifestEntry[];
  const expected = weightSpecs.reduce((acc, w) => acc + DTYPE_BYTES[w.dtype] * w.shape.reduce((a, d) => a * d, 1), 0);
  let bin: Buffer;
  try {
    bin = await readFile(binPath);
  } catch (err) {
    throw damaged(`cannot read ${binPath} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (bin.byteLength !== expected) throw damaged(`${binPath} is ${bin.byteLength} bytes but model.json describes ${expected} (truncated?)`);
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
  return { modelJson: modelJson as ModelArtifacts['modelJson'], weightSpecs, weightData };
}

export async function loadLayersModel(dir: string): Promise<tf.LayersModel> {
  const { modelJson, weightSpecs, weightData } = await readModelArtifacts(dir);
  try {
    return await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: modelJson.modelTopology as object, weightSpecs, weightData }));
  } catch (err) {
    throw new UserError(`${join(dir, 'model.json')} does not describe a loadable model (${(err as Error).message.split('\n')[0]}); the run folder is damaged`);
  }
}
