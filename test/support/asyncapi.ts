// Parses an AsyncAPI document with the maintained AsyncAPI parser and its Avro schema parser.
import { Parser, type AsyncAPIDocumentInterface } from '@asyncapi/parser';
import { AvroSchemaParser } from '@asyncapi/avro-schema-parser';

const ERROR = 0; // the parser's (Spectral's) DiagnosticSeverity.Error
const ORIGINAL = 'x-parser-original-payload'; // where the parser keeps a schema as it was before converting it

/**
 * The parsed document and every error found in it. `source` is where the document is taken to sit
 * (a file path or a URL): its relative references (./schemas/<name>.avsc) are resolved against it,
 * from disk or over HTTP.
 *
 * For an AsyncAPI 3 document the parser converts Avro payloads but does not validate them (its
 * schema-format validation rule is in its 2.x ruleset only), so each Avro payload, as the parser
 * resolved it, is also validated here with the Avro schema parser's own validate().
 */
export async function parseAsyncApi(document: unknown, source: string): Promise<{ parsed: AsyncAPIDocumentInterface | undefined; errors: string[] }> {
  const avro = AvroSchemaParser();
  const parser = new Parser();
  parser.registerSchemaParser(avro);
  const { document: parsed, diagnostics } = await parser.parse(JSON.stringify(document), { source });
  const errors = diagnostics.filter((d) => d.severity === ERROR).map((d) => `${d.code} at ${d.path.join('.')}: ${d.message}`);
  const messages = (parsed?.json() as { components?: { messages?: Record<string, { payload?: Record<string, unknown> }> } } | undefined)?.components?.messages ?? {};
  for (const [id, { payload }] of Object.entries(messages)) {
    const schemaFormat = payload?.schemaFormat;
    if (typeof schemaFormat !== 'string' || !avro.getMimeTypes().includes(schemaFormat)) continue;
    const path = ['components', 'messages', id, 'payload', 'schema'];
    if (!payload || !(ORIGINAL in payload)) {
      errors.push(`avro at ${path.join('.')}: not parsed as Avro`);
      continue;
    }
    const input = { asyncapi: undefined as never, data: payload[ORIGINAL], meta: {}, path, schemaFormat, defaultSchemaFormat: schemaFormat };
    for (const problem of (await avro.validate(input)) ?? []) errors.push(`avro at ${path.join('.')}: ${problem.message}`);
  }
  return { parsed, errors };
}
