// Settings declared once. A declaration says what a variable is (a zod schema over its text), its
// default, whether production needs it given, whether it is a secret, and what it means. From the
// declarations come the typed values, every problem at once (each naming its variable, never a
// secret's value), and the configuration reference (docs/configuration.md).
import fs from 'node:fs';
import { parse as parseJsonText, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { z } from 'zod';

export interface Setting<T = unknown, Defaulted extends boolean = boolean> {
  /** What it means, for the reference. */
  doc: string;
  /** What the value is, for the reference: "integer from 1 to 1000", "URL (postgres:)". */
  kind: string;
  schema: z.ZodType<T, string>;
  /** The value when it is not set, as text; without one, unset is undefined. */
  default?: string;
  /** With NODE_ENV=production it must be given: the default serves development only. */
  requiredInProduction?: boolean;
  /** Also read from NAME_FILE; its value never appears in a message. */
  secret?: boolean;
  /** Also read from NAME_FILE (long JSON values). */
  file?: boolean;
  /** Phantom: whether the value is always there (it has a default). */
  readonly defaulted?: Defaulted;
}

export type Settings = Record<string, Setting>;
type ValueOf<S> = S extends Setting<infer T, infer D> ? (D extends true ? T : T | undefined) : never;
export type Values<S extends Settings> = { [K in keyof S]: ValueOf<S[K]> };

/** A setting with a default: its value is always there. */
export function setting<T>(spec: Omit<Setting<T>, 'defaulted'> & { default: string }): Setting<T, true> {
  return spec;
}

/** A setting without a default: unset, its value is undefined. */
export function optional<T>(spec: Omit<Setting<T>, 'defaulted' | 'default'>): Setting<T, false> {
  return spec;
}

// The value types. Each gives its own message; a problem line is `NAME="value" <message>`.

export const text = (): z.ZodType<string, string> => z.string();

export const int = (min: number, max: number): z.ZodType<number, string> =>
  z
    .string()
    .regex(/^\d+$/, { error: `must be an integer between ${min} and ${max}` })
    .transform(Number)
    .pipe(z.number().min(min, { error: `must be an integer between ${min} and ${max}` }).max(max, { error: `must be an integer between ${min} and ${max}` }));

export const flag = (): z.ZodType<boolean, string> => z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true');

export const oneOf = <const V extends readonly [string, ...string[]]>(values: V, { caseless = false } = {}): z.ZodType<V[number], string> =>
  z
    .string()
    .transform((v) => (caseless ? v.toLowerCase() : v))
    .pipe(z.enum(values, { error: `must be one of ${values.join(', ')}` }));

/** `raw` as it may be shown: a URL's password masked (any text that parses as a URL with one). */
export function shownValue(raw: string): string {
  if (!URL.canParse(raw)) return raw;
  const parsed = new URL(raw);
  if (!parsed.password) return raw;
  parsed.password = '***';
  return parsed.toString();
}

const decodes = (part: string): boolean => {
  try {
    decodeURIComponent(part);
    return true;
  } catch {
    return false;
  }
};

/**
 * A URL of one of `protocols`, with a host. Only a secret setting may carry credentials in it
 * (`credentials: true`): anywhere else they would be shown, and could not be used.
 */
export const url = (protocols: readonly string[], { credentials = false } = {}): z.ZodType<string, string> =>
  z
    .string()
    .refine((v) => URL.canParse(v), { error: 'is not a URL', abort: true })
    .refine((v) => protocols.includes(new URL(v).protocol), { error: `must use ${protocols.join(' or ')}`, abort: true })
    .refine((v) => new URL(v).hostname !== '', { error: 'has no host', abort: true })
    .refine((v) => credentials || (!new URL(v).username && !new URL(v).password), { error: 'must not hold a user or password (only secret settings may)', abort: true })
    .refine((v) => decodes(new URL(v).username) && decodes(new URL(v).password), { error: 'has a user or password that is not percent-encoded (write % as %25)' });

const DURATION = /^(\d{1,9})(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const spoken = (ms: number): string => {
  const [unit, size] = (Object.entries(UNIT_MS) as Array<[string, number]>).reverse().find(([, size]) => ms % size === 0)!;
  return `${ms / size}${unit}`;
};

/** "90s", "4h", "3d": milliseconds between `minMs` and `maxMs`. The one reader of durations. */
export const duration = (minMs: number, maxMs: number): z.ZodType<number, string> => {
  const message = `must be a duration from ${spoken(minMs)} to ${spoken(maxMs)} such as "90s", "4h" or "3d"`;
  return z
    .string()
    .regex(DURATION, { error: message })
    .transform((v) => {
      const [, amount, unit] = DURATION.exec(v)!;
      return Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
    })
    .pipe(z.number().min(minMs, { error: message }).max(maxMs, { error: message }));
};

/**
 * JSON text holding `schema`. A syntax error names its line and column (jsonc-parser finds it).
 * The value is JSON.parse's, which keeps a key such as __proto__ an own key (refused as unknown
 * by the schema) where an assignment would set the object's prototype.
 */
export const json = <T>(schema: z.ZodType<T>): z.ZodType<T, string> =>
  z
    .string()
    .transform((textValue, ctx) => {
      const errors: ParseError[] = [];
      try {
        parseJsonText(textValue, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
        const [first] = errors;
        if (!first) return JSON.parse(textValue) as unknown;
        const before = textValue.slice(0, first.offset).split('\n');
        ctx.addIssue({ code: 'custom', message: `is not valid JSON: ${printParseErrorCode(first.error)} at line ${before.length}, column ${before.at(-1)!.length + 1}` });
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is nested too deeply to read' });
      }
      return z.NEVER;
    })
    .pipe(schema);

/** `a.b[0].c` */
const pathText = (path: PropertyKey[]): string => path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');

/** Where values come from: the environment, and for secrets and long values a file NAME_FILE names. */
function rawValue(env: NodeJS.ProcessEnv, name: string, s: Setting, problems: string[]): { raw: string; source: string } | undefined {
  // A secret is taken as it is (a password may end in a space); other values are trimmed.
  const direct = s.secret ? env[name] || undefined : env[name]?.trim() || undefined;
  const file = s.secret || s.file ? env[`${name}_FILE`]?.trim() || undefined : undefined;
  if (direct !== undefined && file !== undefined) {
    problems.push(`set ${name} or ${name}_FILE, not both`);
    return undefined;
  }
  if (s.secret && direct !== undefined && direct.trim() === '') {
    problems.push(`${name} is blank`);
    return undefined;
  }
  if (file === undefined) return direct === undefined ? undefined : { raw: direct, source: name };
  try {
    const content = fs.readFileSync(file, 'utf8');
    if (content.trim() === '') {
      problems.push(`${name}_FILE names an empty file`);
      return undefined;
    }
    return { raw: s.secret ? content.replace(/\r?\n$/, '') : content.trim(), source: `${name}_FILE` };
  } catch (error) {
    // A secret's path is not shown: a secret put there by mistake would be.
    problems.push(`${name}_FILE${s.secret ? '' : `="${file}"`} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    return undefined;
  }
}

/**
 * The values of `settings` in `env`, each problem noted in `problems`. A value that is missing
 * where production requires it, or that is not valid, is noted and replaced by its default (or
 * undefined), so that every problem is found in one pass.
 */
export function readSettings<S extends Settings>(settings: S, env: NodeJS.ProcessEnv, production: boolean | ((name: string) => boolean), problems: string[]): Values<S> {
  const required = (name: string): boolean => (typeof production === 'function' ? production(name) : production);
  const values: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(settings)) {
    const before = problems.length;
    const given = rawValue(env, name, s, problems);
    const fallback = s.default === undefined ? undefined : s.schema.parse(s.default);
    values[name] = fallback;
    if (given === undefined) {
      // A value that could not be read has said so already.
      if (s.requiredInProduction && required(name) && problems.length === before) {
        problems.push(`${name} must be set in production (NODE_ENV=production): ${s.doc.split('. ')[0]!.replace(/\.$/, '')}`);
      }
      continue;
    }
    const result = s.schema.safeParse(given.raw);
    if (result.success) {
      values[name] = result.data;
      continue;
    }
    for (const issue of result.error.issues) {
      const at = issue.path.length ? pathText(issue.path) : '';
      // Each key an object does not take is named on a line of its own.
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push(`${given.source}${at}.${key} ${issue.message}`);
        continue;
      }
      // The whole value is shown only when it is one short line of no secret.
      const shown = s.secret || s.file || at || given.source !== name || /[\r\n]/.test(given.raw) || given.raw.length > 200 ? '' : `="${shownValue(given.raw)}"`;
      problems.push(`${given.source}${at}${shown} ${issue.message}`);
    }
  }
  return values as Values<S>;
}

/** A Markdown table of settings, for the configuration reference. */
export function referenceTable(settings: Settings): string {
  const cell = (value: string): string => value.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const rows = Object.entries(settings).map(([name, s]) => {
    const names = s.secret || s.file ? `\`${name}\` / \`${name}_FILE\`` : `\`${name}\``;
    const byDefault = s.default === undefined ? 'unset' : s.default === '' ? '(empty)' : `\`${s.default}\``;
    const production = s.requiredInProduction ? '**required**' : '';
    const marks = s.secret ? 'yes' : '';
    return `| ${names} | ${cell(s.kind)} | ${cell(byDefault)} | ${production} | ${marks} | ${cell(s.doc)} |`;
  });
  return ['| variable | value | default (development) | production | secret | meaning |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}
