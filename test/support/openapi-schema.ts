// Checks API answers against the OpenAPI document the server itself serves.
import Ajv2020 from 'ajv/dist/2020';

/** An `expectSchema(name, body)` for the server at `base()` (read when first used: the server starts in beforeAll). */
export function servedSchemaCheck(base: () => string): (schema: string, body: unknown) => Promise<void> {
  const ajv = new Ajv2020({ strict: false });
  let ready: Promise<void> | undefined;
  return async (schema, body) => {
    ready ??= (async () => void ajv.addSchema({ $id: 'api', ...((await (await fetch(`${base()}/openapi.json`)).json()) as object) }))();
    await ready;
    const validate = ajv.compile({ $ref: `api#/components/schemas/${schema}` });
    expect({ schema, valid: validate(body), errors: validate.errors ?? null }).toEqual({ schema, valid: true, errors: null });
  };
}
