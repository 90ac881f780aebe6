// Avro in the Confluent wire format (magic byte 0, 4-byte schema id, Avro body) through a
// Confluent-compatible registry. Decoding resolves the writer's schema into our reader schema,
// so compatible evolutions decode and other schemas are told apart from garbage.
import fs from 'node:fs';
import path from 'node:path';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro, { type Type } from 'avsc';
import { AppError, NotProvisionedError, PermanentMessageError, TransientError, errorMessage } from '../../libraries/errors';

export type SchemaName = 'card-operation-request' | 'approval-decision' | 'approval-event';

/**
 * The compatibility each subject keeps, by who reads it. Requests and decisions are read by this
 * worker: its new reader must read what old writers wrote (BACKWARD). Events are read by
 * downstream systems we do not upgrade: their old readers must read what we write now, and our
 * own tools still read old events (FULL: both directions).
 */
export const SUBJECT_COMPATIBILITY: Record<SchemaName, 'BACKWARD' | 'FULL'> = {
  'card-operation-request': 'BACKWARD',
  'approval-decision': 'BACKWARD',
  'approval-event': 'FULL',
};

const SCHEMA_DIR = path.resolve(__dirname, '..', '..', '..', 'schemas');

export function readSchema(name: SchemaName): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, `${name}.avsc`), 'utf8')) as Record<string, unknown>;
}

export class AvroCodec {
  private readonly registry: SchemaRegistry;
  private readonly readers = new Map<SchemaName, Type>();
  private readonly resolvers = new Map<string, Promise<ReturnType<Type['createResolver']>>>();

  private readonly registryUrl: string;

  constructor(registryUrl: string) {
    // A trailing slash would make every path `//subjects/…`, which a registry answers 404.
    this.registryUrl = registryUrl.replace(/\/+$/, '');
    this.registry = new SchemaRegistry({ host: this.registryUrl }, { [SchemaType.AVRO]: {} });
  }

  reader(name: SchemaName): Type {
    let type = this.readers.get(name);
    if (!type) {
      type = avro.Type.forSchema(readSchema(name) as avro.Schema);
      this.readers.set(name, type);
    }
    return type;
  }

  /**
   * Registers our schema under `subject` and returns its id. The subject's compatibility is set
   * explicitly first (SUBJECT_COMPATIBILITY): registries differ in what they answer for a subject
   * without config. A schema the registry finds incompatible with what the subject holds is
   * refused for good (SCHEMA_INCOMPATIBLE), not retried.
   */
  async register(subject: string, name: SchemaName, schema: Record<string, unknown> = readSchema(name)): Promise<number> {
    const compatibility = COMPATIBILITY[SUBJECT_COMPATIBILITY[name]];
    try {
      const res = await fetch(`${this.registryUrl}/config/${encodeURIComponent(subject)}`, {
        method: 'PUT',
        signal: AbortSignal.timeout(5000),
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ compatibility }),
      });
      if (!res.ok) throw Object.assign(new Error(`PUT /config/${subject} answered ${res.status}`), { status: res.status });
      const { id } = await this.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject, compatibility });
      return id;
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      if (status === 409) {
        throw new AppError('SCHEMA_INCOMPATIBLE', `the registry refused ${name} under ${subject} as ${compatibility}-incompatible with what it holds: ${errorMessage(error)}`, false, {}, { cause: error });
      }
      // Another 4xx (a wrong path, no right to write) will not pass by waiting.
      if (typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429) {
        throw new NotProvisionedError(`the schema registry answered ${status} to registering ${subject}: check SCHEMA_REGISTRY_URL (its Confluent-compatible API) and the worker's right to write there (or SCHEMA_REGISTRY_REGISTER=false)`);
      }
      throw new TransientError('REGISTRY_UNAVAILABLE', `registering ${subject} failed: ${errorMessage(error)}`, {}, { cause: error });
    }
  }

  /**
   * Every version `subject` holds, read with GETs only (SCHEMA_REGISTRY_REGISTER=false: the worker
   * may have no right to write). A subject that does not exist holds none.
   */
  private async versions(subject: string): Promise<Array<{ id: number; schema: Record<string, unknown> }>> {
    const get = async (path: string): Promise<unknown> => {
      let res: Response;
      try {
        res = await fetch(`${this.registryUrl}${path}`, { signal: AbortSignal.timeout(5000) });
      } catch (error) {
        throw new TransientError('REGISTRY_UNAVAILABLE', `reading ${subject} failed: ${errorMessage(error)}`, {}, { cause: error });
      }
      if (res.status === 404) {
        // "Subject not found" (40401) means none is registered; any other 404 is the wrong address.
        const { error_code: code } = ((await res.json().catch(() => ({}))) ?? {}) as { error_code?: number };
        if (code === 40401) return undefined;
        throw new NotProvisionedError(`the schema registry answered 404 for ${path} without saying the subject is unknown: is SCHEMA_REGISTRY_URL its Confluent-compatible API (Apicurio: …/apis/ccompat/v7)?`);
      }
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        throw new NotProvisionedError(`the schema registry answered ${res.status} to reading ${subject}: check SCHEMA_REGISTRY_URL and the worker's right to read there`);
      }
      if (!res.ok) throw new TransientError('REGISTRY_UNAVAILABLE', `reading ${subject} answered ${res.status}`);
      return res.json();
    };
    const numbers = ((await get(`/subjects/${encodeURIComponent(subject)}/versions`)) ?? []) as number[];
    return Promise.all(
      numbers.map(async (n) => {
        const version = (await get(`/subjects/${encodeURIComponent(subject)}/versions/${n}`)) as { id: number; schema: string };
        return { id: version.id, schema: JSON.parse(version.schema) as Record<string, unknown> };
      }),
    );
  }

  /**
   * The id of our own schema `name` under `subject`, found without registering: a version whose
   * canonical form is ours (it encodes the same bytes). None: start-up is refused, naming the subject.
   */
  async findRegistered(subject: string, name: SchemaName): Promise<number> {
    const ours = avro.Type.forSchema(readSchema(name) as avro.Schema).fingerprint().toString('hex');
    const found = (await this.versions(subject)).find((v) => avro.Type.forSchema(v.schema as avro.Schema).fingerprint().toString('hex') === ours);
    if (!found) throw new NotProvisionedError(`the schema registry does not hold this worker's ${name} schema under ${subject} (SCHEMA_REGISTRY_REGISTER=false, so it must be registered beforehand)`);
    return found.id;
  }

  /**
   * Checks that our reader `name` reads every version `subject` holds, and that it holds one:
   * otherwise start-up is refused, naming the subject (SCHEMA_REGISTRY_REGISTER=false).
   */
  async checkReadable(subject: string, name: SchemaName): Promise<void> {
    const versions = await this.versions(subject);
    if (versions.length === 0) throw new NotProvisionedError(`the schema registry holds no schema under ${subject} (SCHEMA_REGISTRY_REGISTER=false, so it must be registered beforehand)`);
    for (const v of versions) {
      try {
        this.reader(name).createResolver(avro.Type.forSchema(v.schema as avro.Schema));
      } catch (error) {
        throw new NotProvisionedError(`schema ${v.id} under ${subject} cannot be read as this worker's ${name}: ${errorMessage(error)}`);
      }
    }
  }

  /**
   * Readiness: the registry answers its Confluent API. It asks for the global compatibility
   * setting, which costs the same however many subjects the registry holds (listing them does not).
   */
  async ping(): Promise<void> {
    const res = await fetch(`${this.registryUrl}/config`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) throw new Error(`registry answered ${res.status}`);
  }

  /** Encodes a value in the wire format; a value that does not fit the schema is UNENCODABLE (permanent). */
  async encode(schemaId: number, value: unknown): Promise<Buffer> {
    try {
      return await this.registry.encode(schemaId, value);
    } catch (error) {
      if ((error as Error).name === 'ConfluentSchemaRegistryValidationError') {
        throw new AppError('UNENCODABLE', `the value does not fit schema ${schemaId}: ${errorMessage(error)}`, false, {}, { cause: error });
      }
      throw new TransientError('REGISTRY_UNAVAILABLE', `schema registry unavailable: ${errorMessage(error)}`, {}, { cause: error });
    }
  }

  /** Decodes a wire-format value as `name`; throws PermanentMessageError or TransientError. */
  async decode<T>(value: Buffer | null, name: SchemaName): Promise<T> {
    if (value === null || value.length === 0) throw new PermanentMessageError('EMPTY_VALUE', 'the message has no value');
    if (value.length < 5 || value[0] !== 0) {
      throw new PermanentMessageError('UNDECODABLE', 'not in the Confluent wire format (magic byte 0 + schema id)');
    }
    const schemaId = value.readInt32BE(1);
    const resolver = await this.resolverFor(schemaId, name);
    try {
      return this.reader(name).fromBuffer(value.subarray(5), resolver) as T;
    } catch (error) {
      throw new PermanentMessageError('UNDECODABLE', `Avro body does not decode with schema ${schemaId}: ${errorMessage(error)}`);
    }
  }

  /**
   * One resolver per (writer schema, reader), made once: the messages of a batch are decoded at
   * once, so the first lookup is shared, not repeated by each of them (building a resolver costs
   * far more than decoding a message). A lookup that failed is forgotten, so the next message
   * tries again.
   */
  private resolverFor(schemaId: number, name: SchemaName): Promise<ReturnType<Type['createResolver']>> {
    const key = `${schemaId}/${name}`;
    let resolver = this.resolvers.get(key);
    if (!resolver) {
      resolver = this.createResolver(schemaId, name);
      this.resolvers.set(key, resolver);
      resolver.catch(() => this.resolvers.delete(key));
    }
    return resolver;
  }

  private async createResolver(schemaId: number, name: SchemaName): Promise<ReturnType<Type['createResolver']>> {
    let writer: Type;
    try {
      writer = (await this.registry.getSchema(schemaId)) as unknown as Type;
    } catch (error) {
      // Only "not found" is final; anything else (refused connection, 5xx) may pass.
      if ((error as { status?: number }).status === 404) {
        throw new PermanentMessageError('UNKNOWN_SCHEMA', `schema id ${schemaId} is not in the registry`);
      }
      throw new TransientError('REGISTRY_UNAVAILABLE', `schema registry unavailable: ${errorMessage(error)}`, {}, { cause: error });
    }
    try {
      return this.reader(name).createResolver(writer);
    } catch {
      const writerName = (writer as { name?: string }).name ?? 'an unnamed schema';
      throw new PermanentMessageError('WRONG_SCHEMA', `schema ${schemaId} (${writerName}) is not a ${this.reader(name).name}`);
    }
  }
}
