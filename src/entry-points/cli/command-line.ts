// A command line declared once: each form of a command (its words, arguments, options and
// description) makes both its parser (node:util parseArgs, strict: an option it does not declare
// is refused, a valued option needs its value) and its usage lines and help, so the two cannot
// disagree.
import { parseArgs } from 'node:util';

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** What the value stands for in usage lines (`--reason TEXT`); string options only. */
  value?: string;
  description: string;
  /** It must be given, and not blank. */
  required?: boolean;
}

export interface ArgSpec {
  name: string;
  /** The values it takes, shown in its place (`APPROVED|REJECTED`). */
  choices?: readonly string[];
  /** It may be left out (then it is one of its form's `oneOf`). */
  optional?: boolean;
}

export type Options = Readonly<Record<string, OptionSpec>>;
export type Args = readonly ArgSpec[];

export interface FormSpec<O extends Options = Options, A extends Args = Args> {
  /** The words that name it: `requests list`, or just `decide`. */
  name: string;
  args?: A;
  options: O;
  /** Exactly one of these is given: option names, or the name of an optional argument. */
  oneOf?: ReadonlyArray<(keyof O & string) | A[number]['name']>;
  /** What it does; its first line goes in the list of commands. */
  description: string;
}

/** What a form was given, typed by its declaration. */
export interface Input<O extends Options = Options, A extends Args = Args> {
  args: { [S in A[number] as S['name']]: S extends { optional: true } ? string | undefined : string };
  options: { [K in keyof O]: O[K]['type'] extends 'boolean' ? boolean : O[K] extends { required: true } ? string : string | undefined };
}

/** The command line was wrong: exit 2, with the usage. */
export class UsageError extends Error {}

const PROGRAM = 'card-approvals';
const commandOf = (form: FormSpec): string => form.name.split(' ')[0]!;
const flag = (name: string, option: OptionSpec): string => (option.type === 'string' ? `--${name} ${option.value ?? 'VALUE'}` : `--${name}`);

/** `card-approvals reassign (ID | --all) --from APPROVER_ID [--token JWT]` */
function usageLine(form: FormSpec): string {
  const oneOf = form.oneOf ?? [];
  const args = (form.args ?? []).filter((a) => !oneOf.includes(a.name)).map((a) => (a.optional ? `[${a.choices?.join('|') ?? a.name}]` : (a.choices?.join('|') ?? a.name)));
  const choice = oneOf.map((name) => (form.options[name] ? flag(name, form.options[name]) : name));
  const options = Object.entries(form.options).filter(([name]) => !oneOf.includes(name));
  return [
    PROGRAM,
    form.name,
    ...args,
    ...(choice.length ? [`(${choice.join(' | ')})`] : []),
    ...options.filter(([, o]) => o.required).map(([name, o]) => flag(name, o)),
    ...options.filter(([, o]) => !o.required).map(([name, o]) => `[${flag(name, o)}]`),
  ].join(' ');
}

const indent = (text: string, by: string): string => text.split('\n').map((line) => `${by}${line}`).join('\n');

/** The usage lines of `forms` (one command's), and where its help is. */
function usage(forms: readonly FormSpec[]): string {
  return [...forms.map((f) => `usage: ${usageLine(f)}`), `  (${PROGRAM} help ${commandOf(forms[0]!)} says more)`].join('\n');
}

/** `help COMMAND`: its forms, what each does, and each option. */
function helpOf(forms: readonly FormSpec[], command: string): string {
  return forms
    .filter((f) => commandOf(f) === command)
    .map((f) => {
      const options = Object.entries(f.options).map(([name, o]) => [flag(name, o), o.description] as const);
      const width = Math.max(0, ...options.map(([shown]) => shown.length));
      return [`usage: ${usageLine(f)}`, indent(f.description, '  '), ...options.map(([shown, what]) => `    ${shown.padEnd(width)}  ${what}`)].join('\n');
    })
    .join('\n\n');
}

/** `help`: every form, its usage line and the first line of what it does, a command's forms together. */
function overview(forms: readonly FormSpec[]): string {
  const commands = [...new Set(forms.map(commandOf))];
  const blocks = commands.map((c) => forms.filter((f) => commandOf(f) === c).map((f) => `${usageLine(f)}\n  ${f.description.split('\n')[0]}`).join('\n'));
  return [`usage: ${PROGRAM} COMMAND [options]   (${PROGRAM} help COMMAND for its options)`, ...blocks].join('\n\n');
}

/**
 * The form `argv` names and what it was given, or the help it asks for (`help`, `help COMMAND`,
 * `--help`). A command line that breaks its form's declaration is a UsageError naming what is
 * wrong, with the command's usage; `unknownOptionHint` says why a form takes no other option.
 */
export function parseCommandLine<F extends FormSpec>(forms: readonly F[], argv: readonly string[], unknownOptionHint?: (form: F) => string | undefined): { help: string } | { form: F; input: Input } {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help') {
    const about = command === 'help' ? rest[0] : undefined;
    if (about === undefined) return { help: overview(forms) };
    if (!forms.some((f) => commandOf(f) === about)) throw new UsageError(`no command ${about}\n${overview(forms)}`);
    return { help: helpOf(forms, about) };
  }
  const candidates = forms.filter((f) => commandOf(f) === command);
  if (candidates.length === 0) throw new UsageError(`unknown command ${command}\n${overview(forms)}`);
  if (rest.includes('--help')) return { help: helpOf(forms, command) };
  const form = candidates.length === 1 && !candidates[0]!.name.includes(' ') ? candidates[0]! : candidates.find((f) => f.name === `${command} ${rest[0]}`);
  if (!form) throw new UsageError(usage(candidates));
  const words = form.name.split(' ').length - 1;
  const wrong = (problem: string): UsageError => new UsageError(`${problem}\n${usage([form])}`);

  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest.slice(words), options: form.options, strict: true, allowPositionals: true });
  } catch (error) {
    const code = (error as { code?: string }).code;
    // A valued option without its value, or a value given to a switch: parseArgs says which.
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw wrong((error as Error).message);
    if (code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw error;
    // Every option it does not take is named, not only the first.
    const { tokens } = parseArgs({ args: rest.slice(words), options: form.options, strict: false, allowPositionals: true, tokens: true });
    const unknown = [...new Set(tokens.flatMap((t) => (t.kind === 'option' && !Object.hasOwn(form.options, t.name) ? [t.rawName] : [])))];
    const hint = unknownOptionHint?.(form);
    throw wrong(`${form.name} takes no ${unknown.join(', ')}${hint ? `: ${hint}` : ''}`);
  }

  const specs = form.args ?? [];
  const { values, positionals } = parsed;
  // Optional arguments come last, so the ones given fill the declaration from its start.
  if (positionals.length > specs.length || positionals.length < specs.filter((a) => !a.optional).length) throw wrong(`${form.name} takes ${specs.length ? specs.map((a) => a.name).join(' ') : 'no arguments'}`);
  const args: Record<string, string | undefined> = {};
  specs.forEach((spec, i) => {
    const value = positionals[i];
    if (value !== undefined && spec.choices && !spec.choices.includes(value)) throw wrong(`${spec.name} is one of ${spec.choices.join(', ')}, not ${value}`);
    args[spec.name] = value;
  });
  const options: Record<string, string | boolean | undefined> = {};
  for (const [name, option] of Object.entries(form.options)) {
    const value = values[name];
    options[name] = option.type === 'boolean' ? value === true : value;
    if (option.required && (typeof value !== 'string' || value.trim() === '')) throw wrong(`--${name} is required`);
  }
  if (form.oneOf) {
    const given = form.oneOf.filter((name) => (Object.hasOwn(form.options, name) ? values[name] !== undefined : args[name] !== undefined));
    if (given.length !== 1) throw wrong(`${form.name} takes one of ${form.oneOf.map((name) => (Object.hasOwn(form.options, name) ? `--${name}` : name)).join(', ')}${given.length ? `, not ${given.length}` : ''}`);
  }
  return { form, input: { args, options } as Input };
}
