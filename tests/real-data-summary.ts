/**
 * A node:test reporter, run beside `spec` by `npm test`: one line at the end of the run counting the tests that were
 * skipped because the real datasets are absent (their skip reason starts with REAL_DATA_SKIP).
 */
import { SHARED_ENV, SHARED_LAYOUT } from '../scripts/shared-dir.js';
import { REAL_DATA_SKIP } from './real-data.js';

interface TestEvent {
  type: string;
  data: { skip?: string | boolean; details?: { type?: string } };
}

export default async function* realDataSummary(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  let skipped = 0;
  for await (const event of source) {
    const { skip, details } = event.data ?? {};
    if (event.type === 'test:pass' && details?.type !== 'suite' && typeof skip === 'string' && skip.startsWith(REAL_DATA_SKIP)) skipped++;
  }
  if (skipped > 0) {
    yield `\n${skipped} real-data tests skipped: set ${SHARED_ENV} to the folder holding ${SHARED_LAYOUT.mimic} and ${SHARED_LAYOUT.physionet} (README, "Real ICU data")\n`;
  }
}
