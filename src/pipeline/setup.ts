import { setupData, type SetupReport } from '../data/setup.js';
import { selectBackend, type BackendInfo } from '../engine/backend.js';

/** Where `setup` writes the cohort, and where configs/base.yaml's data paths point. */
export const DEFAULT_DATA_DIR = 'data';

export interface SetupStepOptions {
  dataDir: string;
  nStays: number;
  devSize: number;
  hours: number;
  dataSeed: number;
  backend: string;
  force: boolean;
}

export interface SetupStepResult {
  data: SetupReport;
  backend: BackendInfo;
}

/** The embedded synthetic cohort (generated or found with the same settings) and the compute backend check. */
export async function runSetup(options: SetupStepOptions): Promise<SetupStepResult> {
  const data = await setupData({ dataDir: options.dataDir, nStays: options.nStays, devSize: options.devSize, hours: options.hours, seed: options.dataSeed, force: options.force });
  const backend = await selectBackend(options.backend);
  return { data, backend };
}
