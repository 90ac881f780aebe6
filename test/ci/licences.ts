// `npm run licences`: what the worker ships. Writes test-artifacts/sbom.cdx.json (a CycloneDX
// SBOM of the runtime dependencies) and test-artifacts/licences.md (each one's licence, counted),
// and exits 1 naming every package whose licence is not on the allowlist of test/ci/licence-policy.ts.
// Needs `npm ci` first: licences are read from the installed packages' own package.json.
//
// The runtime dependencies are the packages `npm ci --omit=dev` installs, as the image does: the
// lockfile's entries not flagged `dev`. That includes the `devOptional` ones (ts-node and
// TypeScript, optional peers of TypeORM that are dev dependencies too: npm installs them when only
// dev is omitted). `npm sbom --omit dev` is not used, because it also drops production packages
// that a dev dependency uses as well (npm/cli#7909: fastify, pino, zod and most of the others
// here); npm's full SBOM is filtered instead, and every runtime package must be in it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { declaredLicence, judgeLicence, REVIEWED_PACKAGES, type ReviewedPackage } from './licence-policy';

const ROOT = path.join(__dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const PROJECT_LICENCE = 'Apache-2.0';

interface LockEntry {
  name?: string;
  version?: string;
  license?: string;
  dev?: boolean;
  link?: boolean;
}

interface RuntimePackage {
  name: string;
  version: string;
  /** Where npm installs it, relative to the project: node_modules/… */
  location: string;
  licence: string | undefined;
  from: 'package.json' | 'package-lock.json' | 'reviewed by hand';
  review?: ReviewedPackage;
  problem?: string;
}

interface CycloneDx {
  metadata: { component: { name: string; 'bom-ref': string } };
  components: Array<{ 'bom-ref': string; name: string; version: string }>;
  dependencies?: Array<{ ref: string; dependsOn?: string[] }>;
}

const readJson = (file: string): Record<string, unknown> => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
const ref = (p: { name: string; version: string }) => `${p.name}@${p.version}`;

function runtimePackages(): RuntimePackage[] {
  const lock = readJson(path.join(ROOT, 'package-lock.json')) as { lockfileVersion?: number; packages?: Record<string, LockEntry> };
  if (!lock.packages || (lock.lockfileVersion ?? 0) < 2) throw new Error('package-lock.json has no "packages" map (lockfileVersion 2 or later)');
  const found: RuntimePackage[] = [];
  for (const [location, entry] of Object.entries(lock.packages)) {
    if (location === '' || entry.dev || entry.link) continue;
    const name = entry.name ?? location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const manifestFile = path.join(ROOT, location, 'package.json');
    // An optional package for another platform is not installed here; the lockfile keeps its licence.
    const installed = fs.existsSync(manifestFile);
    const manifest = installed ? readJson(manifestFile) : undefined;
    found.push({
      name,
      version: entry.version ?? String(manifest?.version),
      location,
      licence: manifest ? declaredLicence(manifest) : entry.license,
      from: installed ? 'package.json' : 'package-lock.json',
    });
  }
  return found.sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version, undefined, { numeric: true }) || a.location.localeCompare(b.location));
}

function applyReviews(packages: RuntimePackage[]): ReviewedPackage[] {
  const used = new Set<ReviewedPackage>();
  for (const p of packages) {
    const review = REVIEWED_PACKAGES.find((r) => r.name === p.name && r.version === p.version);
    if (!review) continue;
    used.add(review);
    const dir = path.join(ROOT, p.location);
    const licenceFile = fs.existsSync(dir) ? fs.readdirSync(dir).find((f) => /^licen[cs]e(\.(md|txt))?$/i.test(f)) : undefined;
    const text = licenceFile ? fs.readFileSync(path.join(dir, licenceFile), 'utf8').trimStart() : '';
    if (!text.startsWith(review.licenceFileStartsWith)) {
      p.problem = `reviewed as ${review.licence}, but its licence file no longer begins "${review.licenceFileStartsWith}": read it again`;
      continue;
    }
    p.licence = review.licence;
    p.from = 'reviewed by hand';
    p.review = review;
  }
  return REVIEWED_PACKAGES.filter((r) => !used.has(r));
}

/** npm's CycloneDX SBOM of the whole tree, cut down to the runtime packages. */
function runtimeSbom(packages: RuntimePackage[], projectName: string): CycloneDx {
  const npmCli = process.env.npm_execpath;
  const args = ['sbom', '--sbom-format', 'cyclonedx', '--sbom-type', 'application'];
  const output = npmCli && /\.c?js$/.test(npmCli) ? execFileSync(process.execPath, [npmCli, ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }) : execFileSync('npm', args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const sbom = JSON.parse(output) as CycloneDx;
  const keep = new Set(packages.map(ref));
  const missing = [...keep].filter((r) => !sbom.components.some((c) => c['bom-ref'] === r));
  if (missing.length > 0) throw new Error(`npm sbom left out runtime packages: ${missing.join(', ')}`);
  const root = sbom.metadata.component['bom-ref'];
  // npm names the root component after the folder the project is in, not after package.json.
  sbom.metadata.component.name = projectName;
  sbom.components = sbom.components.filter((c) => keep.has(c['bom-ref']));
  sbom.dependencies = (sbom.dependencies ?? [])
    .filter((d) => d.ref === root || keep.has(d.ref))
    .map((d) => ({ ...d, dependsOn: (d.dependsOn ?? []).filter((r) => keep.has(r)) }));
  return sbom;
}

function report(packages: RuntimePackage[], distinct: number, counts: Array<[string, number]>, unusedReviews: ReviewedPackage[]): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const refused = packages.filter((p) => p.problem);
  const reviewed = [...new Map(packages.filter((p) => p.review).map((p) => [ref(p), p])).values()];
  const lines = [
    '# Licences of the runtime dependencies',
    '',
    `Written by \`npm run licences\`: the ${distinct} packages (${packages.length} installed copies) \`npm ci --omit=dev\` installs, from package-lock.json, judged against the allowlist in test/ci/licence-policy.ts for a worker under ${PROJECT_LICENCE}. Counts take each name@version once.`,
    '',
    '| licence | packages |',
    '| --- | ---: |',
    ...counts.map(([licence, n]) => `| ${cell(licence)} | ${n} |`),
    '',
    '## Not allowed',
    '',
    ...(refused.length === 0 ? ['None.'] : refused.map((p) => `- ${ref(p)} (${p.location}): ${cell(p.problem!)}`)),
    '',
    '## Read by hand',
    '',
    ...(reviewed.length === 0 ? ['None.'] : reviewed.map((p) => `- ${ref(p)}: ${p.review!.licence}, ${p.review!.why}`)),
    ...(unusedReviews.length === 0 ? [] : ['', `No longer installed, so no longer needed in test/ci/licence-policy.ts: ${unusedReviews.map(ref).join(', ')}`]),
    '',
    '## Every package',
    '',
    '| package | version | licence | from | installed at |',
    '| --- | --- | --- | --- | --- |',
    ...packages.map((p) => `| ${p.name} | ${p.version} | ${cell(p.licence ?? 'none')} | ${p.from} | ${p.location} |`),
    '',
  ];
  return lines.join('\n');
}

function main(): number {
  const project = readJson(path.join(ROOT, 'package.json'));
  if (project.license !== PROJECT_LICENCE) {
    console.error(`package.json says the project is under ${String(project.license)}; the allowlist in test/ci/licence-policy.ts was made for ${PROJECT_LICENCE}`);
    return 1;
  }
  if (!fs.existsSync(path.join(ROOT, 'node_modules'))) {
    console.error('no node_modules: run npm ci first');
    return 1;
  }
  const packages = runtimePackages();
  const unusedReviews = applyReviews(packages);
  for (const p of packages) {
    if (p.problem) continue;
    const verdict = judgeLicence(p.licence);
    if (!verdict.allowed) p.problem = verdict.problem;
  }
  // Each name@version once in the counts, however many places npm installs it.
  const distinct = new Map(packages.map((p) => [ref(p), p]));
  const tally = new Map<string, number>();
  for (const p of distinct.values()) tally.set(p.licence ?? 'none', (tally.get(p.licence ?? 'none') ?? 0) + 1);
  const counts = [...tally].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));

  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.writeFileSync(path.join(ARTIFACTS, 'sbom.cdx.json'), `${JSON.stringify(runtimeSbom(packages, String(project.name)), null, 2)}\n`);
  fs.writeFileSync(path.join(ARTIFACTS, 'licences.md'), report(packages, distinct.size, counts, unusedReviews));

  const byHand = [...distinct.values()].filter((p) => p.review).length;
  console.log(`${distinct.size} runtime packages: ${counts.map(([licence, n]) => `${licence} ${n}`).join(', ')}${byHand ? ` (${byHand} read by hand)` : ''}`);
  console.log('wrote test-artifacts/sbom.cdx.json and test-artifacts/licences.md');
  for (const r of unusedReviews) console.log(`note: ${ref(r)} is reviewed in test/ci/licence-policy.ts but no longer installed`);
  const refused = packages.filter((p) => p.problem);
  for (const p of refused) console.error(`licence not allowed: ${ref(p)} (${p.location}): ${p.problem}`);
  if (refused.length > 0) console.error(`${refused.length} runtime package(s) with a licence not allowed for an ${PROJECT_LICENCE} worker; see test-artifacts/licences.md`);
  return refused.length > 0 ? 1 : 0;
}

if (require.main === module) process.exitCode = main();
