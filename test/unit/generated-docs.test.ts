// The documents made from declarations are what the declarations make now.
import fs from 'node:fs';
import path from 'node:path';
import { GENERATED } from '../docs/generate';

test.each(Object.keys(GENERATED))('%s is current (npm run docs writes it)', async (file) => {
  expect(fs.readFileSync(path.join(__dirname, '..', '..', file), 'utf8')).toBe(await GENERATED[file]!());
});
