// Every link between the project's documents leads somewhere: the file exists and, for a link to a
// heading, the heading does (as GitHub names its anchors). The README points into docs/, and docs/
// into each other and into the code.
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const DOCS = ['README.md', 'SECURITY.md', 'BENCHMARKS.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const anchorOf = (heading: string): string => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-');
const anchorsIn = (file: string): Set<string> => new Set([...fs.readFileSync(file, 'utf8').matchAll(/^#+ (.*)$/gm)].map((m) => anchorOf(m[1]!)));

test.each(DOCS)('every link in %s leads to a file, and to a heading it names', (doc) => {
  const file = path.join(ROOT, doc);
  const broken: string[] = [];
  for (const [, target] of fs.readFileSync(file, 'utf8').matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^(https?|mailto):/.test(target!)) continue;
    const [where, anchor] = target!.split('#');
    const to = where ? path.resolve(path.dirname(file), where) : file;
    if (!fs.existsSync(to)) broken.push(`${target}: no such file`);
    else if (anchor && to.endsWith('.md') && !anchorsIn(to).has(anchor)) broken.push(`${target}: no such heading`);
  }
  expect(broken).toEqual([]);
});
