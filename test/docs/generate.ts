// `npm run docs`: writes the documents made from the code's own declarations (the configuration
// reference from src/libraries/config, the metrics reference from src/libraries/metrics.ts, the Kafka ACLs from src/adapters/kafka/acls.ts, the OpenAPI
// document from the routes). A unit test fails when one is stale.
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { aclReference } from '../../src/adapters/kafka/acls';
import { openApiDocument } from '../../src/entry-points/http/http-server';
import { configurationReference, loadConfig } from '../../src/libraries/config';
import { createMetrics, metricsReference } from '../../src/libraries/metrics';

/** The OpenAPI document of this release; docs/openapi/released/ keeps the ones released before. */
export const OPENAPI_FILE = 'docs/openapi/openapi.json';

export const GENERATED: Record<string, () => string | Promise<string>> = {
  'docs/configuration.md': configurationReference,
  'docs/metrics.md': metricsReference,
  'docs/kafka-acls.md': () => aclReference(loadConfig({})),
  [OPENAPI_FILE]: async () => {
    const silent = pino({ level: 'silent' });
    const document = await openApiDocument({ publicUrl: loadConfig({}).operatorUrl, metrics: createMetrics(), logger: silent, accessLog: { logger: silent, hashKey: '' }, startingStep: () => '' });
    return `${JSON.stringify(document, null, 2)}\n`;
  },
};

if (require.main === module) {
  void (async () => {
    for (const [file, make] of Object.entries(GENERATED)) {
      const target = path.join(__dirname, '..', '..', file);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, await make());
      console.log(`wrote ${file}`);
    }
  })();
}
