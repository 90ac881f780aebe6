// The Dockerfile read as data, so that tests run what the image runs. There is no Docker engine
// where the tests run: the final stage is replayed instead (its files copied, its RUN steps run,
// its CMD and HEALTHCHECK started with its ENV). Only the forms the Dockerfile uses are read.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './build';

export interface ImageStage {
  /** FROM's image, and the stage's name if it has one. */
  from: string;
  name: string | undefined;
  workdir: string;
  /** ARG names with their defaults (undefined: none). */
  args: Record<string, string | undefined>;
  labels: Record<string, string>;
  env: Record<string, string>;
  /** COPY and RUN in order; `from` is the stage a COPY --from takes its files from. */
  steps: Array<{ copy: { from: string | undefined; sources: string[]; destination: string } } | { run: string }>;
  user: string | undefined;
  expose: number[];
  /** The HEALTHCHECK's options (--interval=10s: interval → 10s) and its exec-form command. */
  healthcheck: { options: Record<string, string>; command: string[] } | undefined;
  cmd: string[];
}

/** Instructions with their continuation lines joined, comments and blank lines dropped. */
function instructions(text: string): Array<{ keyword: string; rest: string }> {
  const lines = text.split('\n').filter((line) => !/^\s*#/.test(line));
  return lines
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [, keyword, rest] = /^(\S+)\s*(.*)$/.exec(line)!;
      return { keyword: keyword!.toUpperCase(), rest: rest! };
    });
}

/** `key=value` pairs, a value either "quoted" (JSON escapes) or bare. */
function pairs(text: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const [, key, quoted, bare] of text.matchAll(/([\w.-]+)=(?:("(?:[^"\\]|\\.)*")|(\S*))/g)) found[key!] = quoted === undefined ? bare! : (JSON.parse(quoted) as string);
  return found;
}

/** Every stage of the Dockerfile at the top of the project, in order. */
export function readDockerfile(file = path.join(ROOT, 'Dockerfile')): ImageStage[] {
  const stages: ImageStage[] = [];
  for (const { keyword, rest } of instructions(fs.readFileSync(file, 'utf8'))) {
    if (keyword === 'FROM') {
      const [image, as, name] = rest.split(/\s+/);
      stages.push({ from: image!, name: as?.toUpperCase() === 'AS' ? name : undefined, workdir: '/', args: {}, labels: {}, env: {}, steps: [], user: undefined, expose: [], healthcheck: undefined, cmd: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${keyword} before FROM`);
    switch (keyword) {
      case 'WORKDIR':
        stage.workdir = path.posix.resolve(stage.workdir, rest);
        break;
      case 'ARG': {
        const [name, value] = rest.split('=', 2) as [string, string | undefined];
        stage.args[name] = value;
        break;
      }
      case 'LABEL':
        Object.assign(stage.labels, pairs(rest));
        break;
      case 'ENV':
        Object.assign(stage.env, pairs(rest));
        break;
      case 'COPY': {
        const words = rest.split(/\s+/);
        const from = words[0]?.startsWith('--from=') ? words.shift()!.slice('--from='.length) : undefined;
        stage.steps.push({ copy: { from, sources: words.slice(0, -1), destination: words.at(-1)! } });
        break;
      }
      case 'RUN':
        stage.steps.push({ run: rest });
        break;
      case 'USER':
        stage.user = rest;
        break;
      case 'EXPOSE':
        stage.expose.push(...rest.split(/\s+/).map((port) => Number.parseInt(port, 10)));
        break;
      case 'HEALTHCHECK': {
        const [, options, command] = /^((?:--\S+\s+)*)CMD\s+(\[.*\])$/.exec(rest) ?? [];
        if (command === undefined) throw new Error(`HEALTHCHECK not in exec form: ${rest}`);
        stage.healthcheck = { options: Object.fromEntries(options!.trim().split(/\s+/).filter(Boolean).map((o) => o.slice(2).split('=', 2) as [string, string])), command: JSON.parse(command) as string[] };
        break;
      }
      case 'CMD':
        if (!rest.startsWith('[')) throw new Error(`CMD not in exec form: ${rest}`);
        stage.cmd = JSON.parse(rest) as string[];
        break;
      default:
        throw new Error(`a Dockerfile instruction this reader does not know: ${keyword}`);
    }
  }
  return stages;
}
