// `npm run docs`: writes the documents made from the code's own declarations (the configuration
// reference from src/libraries/config, the Kafka ACLs from src/adapters/kafka/acls.ts). A unit test fails when one is stale.
import fs from 'node:fs';
import path from 'node:path';
import { aclReference } from '../../src/adapters/kafka/acls';
import { configurationReference, loadConfig } from '../../src/libraries/config';

export const GENERATED: Record<string, () => string> = {
  'docs/configuration.md': configurationReference,
  'docs/kafka-acls.md': () => aclReference(loadConfig({})),
};

if (require.main === module) {
  for (const [file, make] of Object.entries(GENERATED)) {
    fs.writeFileSync(path.join(__dirname, '..', '..', file), make());
    console.log(`wrote ${file}`);
  }
}
