// The short form of the mixed-version run (the long form is `npm run chaos -- --only upgrade`):
// workers of the previous version (the commit before the newest migration, built from git and
// cached by commit) beside this checkout's, through a rolling update, a rollback and a roll
// forward, under load. Nothing may be lost, duplicated, reordered, stalled or blamed on a defect.
import path from 'node:path';
import { loadStackConfig } from '../stack/stack-config';
import { formatTable } from '../chaos/chaos-run';
import { defaultPreviousCommit, previousVersion, type WorkerVersion } from '../chaos/previous-version';
import { rollingUpgrade } from '../chaos/scenarios';

let previous: WorkerVersion;
beforeAll(async () => {
  previous = await previousVersion(defaultPreviousCommit(), path.dirname(loadStackConfig().stackHome));
}, 300_000);

test('when a rolling update from the previous version migrates under load, rolls back and forward again, then nothing is lost, duplicated or stalled', async () => {
  const requests = 100;
  const row = await rollingUpgrade({ requests, streamMs: 20_000 }, previous);
  process.stdout.write(`${formatTable([row])}\n`);
  expect(row.problems).toEqual([]);
  expect(row).toMatchObject({ records: requests, lost: 0, duplicatedEffects: 0, orderViolations: 0, stalls: 0, defectLetters: 0, deadLetters: 0, refusals: 0 });
}, 300_000);
