// The Kafka ACLs the worker needs, stated once: docs/kafka-acls.md is made from this list, and a
// test runs the worker on a broker with its authorizer on and exactly these ACLs.
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes, type AclEntry } from 'kafkajs';
import type { Config } from '../../libraries/config';

export interface AclGrant {
  resource: 'topic' | 'group';
  /** A topic's or group's name (a prefix where `prefixed`). */
  name: string;
  prefixed: boolean;
  operations: Array<'Read' | 'Write' | 'Describe' | 'DescribeConfigs' | 'Create'>;
  why: string;
}

/** What the worker's principal must be allowed, for these settings. */
export function workerAcls(config: Pick<Config, 'topics' | 'kafka' | 'eventsMaxBatchBytes'>): AclGrant[] {
  const { topics, kafka } = config;
  const requests = Object.values(topics.requests);
  const grants: AclGrant[] = [
    ...requests.map((name): AclGrant => ({ resource: 'topic', name, prefixed: false, operations: ['Read', 'Describe'], why: 'consume requests' })),
    { resource: 'topic', name: topics.decisions, prefixed: false, operations: ['Read', 'Write', 'Describe'], why: 'consume decisions; publish those made through the API and email links' },
    {
      resource: 'topic',
      name: topics.events,
      prefixed: false,
      operations: config.eventsMaxBatchBytes === undefined ? ['Write', 'Describe', 'DescribeConfigs'] : ['Write', 'Describe'],
      why: config.eventsMaxBatchBytes === undefined ? "publish events; read the topic's max.message.bytes (set EVENTS_MAX_BATCH_BYTES to do without DescribeConfigs)" : 'publish events',
    },
    { resource: 'topic', name: topics.deadLetter, prefixed: false, operations: ['Write', 'Describe'], why: 'publish dead letters' },
    // No IdempotentWrite on the cluster: since Kafka 3.0 (KIP-679) Write on a topic lets an idempotent producer write to it.
    { resource: 'group', name: kafka.groupId, prefixed: false, operations: ['Read', 'Describe'], why: 'join the consumer group, commit and read its offsets (lag)' },
  ];
  if (kafka.createTopics) {
    for (const grant of grants.filter((g) => g.resource === 'topic')) grant.operations.push('Create');
  }
  return grants;
}

const OPERATION = { Read: AclOperationTypes.READ, Write: AclOperationTypes.WRITE, Describe: AclOperationTypes.DESCRIBE, DescribeConfigs: AclOperationTypes.DESCRIBE_CONFIGS, Create: AclOperationTypes.CREATE };
const RESOURCE = { topic: AclResourceTypes.TOPIC, group: AclResourceTypes.GROUP };

/** The grants as kafkajs ACL entries for `principal` (`User:name`), from any host. */
export function aclEntries(grants: AclGrant[], principal: string): AclEntry[] {
  return grants.flatMap((g) =>
    g.operations.map((operation) => ({
      principal,
      host: '*',
      operation: OPERATION[operation],
      permissionType: AclPermissionTypes.ALLOW,
      resourceType: RESOURCE[g.resource],
      resourceName: g.name,
      resourcePatternType: g.prefixed ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
    })),
  );
}

/** docs/kafka-acls.md: the grants for the default settings, with and without KAFKA_CREATE_TOPICS. */
export function aclReference(config: Config): string {
  const table = (grants: AclGrant[]): string =>
    ['| resource | name | operations | why |', '| --- | --- | --- | --- |', ...grants.map((g) => `| ${g.resource} | \`${g.name}\`${g.prefixed ? ' (prefix)' : ''} | ${g.operations.join(', ')} | ${g.why} |`)].join('\n');
  return [
    '# Kafka ACLs of the worker',
    '',
    '<!-- Generated from src/adapters/kafka/acls.ts by `npm run docs`; a test fails when it is stale, and another runs the worker with exactly these ACLs. -->',
    '',
    "What the worker's principal must be allowed, with the default topic names (with `TOPIC_PREFIX` or",
    '`TOPIC_*` set, the same grants on those names). Not in this list, and not tested: the operators\' CLI',
    'reads a topic (`tail`, `dead-letters`) with `Read` and `Describe` on it and `Read` on groups with the',
    'prefix `card-approvals-cli-`, and replays a dead letter with `Write` on its source topic.',
    '',
    '## With `KAFKA_CREATE_TOPICS=false` (topics provisioned by `node dist/entry-points/cli/provision.js`)',
    '',
    table(workerAcls({ ...config, kafka: { ...config.kafka, createTopics: false } })),
    '',
    '## With `KAFKA_CREATE_TOPICS=true` (the default: the worker creates missing topics)',
    '',
    table(workerAcls({ ...config, kafka: { ...config.kafka, createTopics: true } })),
    '',
  ].join('\n');
}
