// The Kafka contract as downstream teams get it: GET /asyncapi.json beside /openapi.json, with the
// Avro schemas it references served where its relative references point.
import fs from 'node:fs';
import path from 'node:path';
import { asyncApiDocument } from '../../src/entry-points/http/asyncapi';
import { parseAsyncApi } from '../support/asyncapi';
import { startHarnessWithWorker, type Harness } from '../support/test-worker';

let harness: Harness;
let base: string;

beforeAll(async () => {
  ({ harness, base } = await startHarnessWithWorker());
});

afterAll(async () => {
  await harness?.stop();
});

test('when a team fetches /asyncapi.json, then it is the document, and the parser resolves its Avro references over HTTP without error', async () => {
  const res = await fetch(`${base}/asyncapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json(; charset=utf-8)?$/);
  const served = await res.json();
  expect(served).toEqual(asyncApiDocument);

  const { parsed, errors } = await parseAsyncApi(served, `${base}/asyncapi.json`);
  expect(errors).toEqual([]);
  expect(parsed?.components().messages().get('ApprovalEvent')?.payload()?.properties()).toHaveProperty('eventId');
});

test('when a team fetches a referenced schema, then it gets the file byte for byte; other paths under /schemas are 404', async () => {
  const root = path.resolve(__dirname, '..', '..');
  for (const ref of new Set(JSON.stringify(asyncApiDocument).match(/\.\/schemas\/[a-z-]+\.avsc/g) ?? [])) {
    const res = await fetch(new URL(ref, `${base}/asyncapi.json`));
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(fs.readFileSync(path.join(root, ref)))).toBe(true);
  }
  for (const other of ['/schemas/unknown.avsc', '/schemas/%2e%2e%2fpackage.json', '/schemas/released/v1/approval-event.avsc']) {
    expect((await fetch(`${base}${other}`)).status).toBe(404);
  }
  // An empty name breaks the rule for a path's ids.
  expect((await fetch(`${base}/schemas/`)).status).toBe(400);
});
