// Publishing approvers' decisions on the decisions topic. In the worker only the API uses it,
// with the identity its bearer token proved: whatever publishes here decides as the approver it
// names. The demo, tests and benchmarks use it too, standing in for upstream systems; the CLI
// decides through the API. The schema is registered once, on first use.
import type { ApprovalDecision } from '../../domain/card-operation';
import type { AvroCodec } from '../schema-registry/avro-codec';
import type { Producer } from './kafka-client';

export type PublishDecisions = (...decisions: ApprovalDecision[]) => Promise<void>;

export function decisionPublisher({ codec, producer, topic }: { codec: AvroCodec; producer: Producer; topic: string }): PublishDecisions {
  let schemaId: Promise<number> | undefined;
  return async (...decisions) => {
    schemaId ??= codec.register(`${topic}-value`, 'approval-decision').catch((error: unknown) => {
      schemaId = undefined; // the next call tries again
      throw error;
    });
    const id = await schemaId;
    const messages = await Promise.all(decisions.map(async (d) => ({ key: d.requestId, value: await codec.encode(id, d) })));
    await producer.send({ topic, acks: -1, messages });
  };
}
