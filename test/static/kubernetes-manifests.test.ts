// The Kubernetes manifests (deploy/kubernetes), rendered as `kubectl apply -k` renders them, with
// no cluster: kubectl must be installed (.ci/run installs it), and a missing one fails here.
// Every object is checked against the Kubernetes schemas (kubernetes-models, and the Prometheus
// Operator's for the ServiceMonitor), with no field the schema does not know, and then for what
// matters: the base runs every role in one Deployment and the example overlay the roles apart
// (components/split-roles: consumers and relays, one pod spec), each Deployment's pods are the
// only ones its Service and PodDisruptionBudget select and all are scraped under the alerts' job,
// the probes ask routes the worker serves, the pods run read-only as the node user with nothing to
// escalate, secrets are files of mounted Secrets (the migrator's in the Job, the worker's in the
// Deployments), the settings are a valid production configuration for each role, and the memory
// limit gives the heap the benchmarks ran with.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Job } from 'kubernetes-models/batch/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import type { IContainer, IPodTemplateSpec } from 'kubernetes-models/v1';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { parseAllDocuments } from 'yaml';
import { ROLES, SETTINGS_BY_SUBJECT, loadConfig, loadDatabaseUrl } from '../../src/libraries/config';
import { ROOT, WORKER_ARGS } from '../support/build';
import { readDockerfile } from '../support/dockerfile';
import { alertRules } from '../support/promql';

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Record<string, unknown>;

/** The model of each kind the manifests hold: its constructor validates against the schema. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'batch/v1/Job': Job,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

/** `kubectl kustomize DIR`, with no cluster configured. */
function render(dir: string): Manifest[] {
  const env = { PATH: process.env.PATH, KUBECONFIG: path.join(os.tmpdir(), 'no-cluster-kubeconfig'), HOME: os.tmpdir() };
  let text: string;
  try {
    text = execFileSync('kubectl', ['kustomize', path.join(ROOT, dir)], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('kubectl is not installed: these manifests are rendered with `kubectl kustomize` (.ci/run installs kubectl)');
    // The manifests use kustomize 4 and later (the kubectl of Kubernetes 1.21 on).
    const version = execFileSync('kubectl', ['version', '--client'], { encoding: 'utf8', env }).trim();
    throw new Error(`kubectl kustomize ${dir} failed with ${version.replace(/\n/g, ', ')}: ${String((error as { stderr?: string }).stderr ?? error)}`);
  }
  return parseAllDocuments(text).map((document) => {
    if (document.errors.length) throw new Error(`kubectl kustomize ${dir} printed YAML that does not parse: ${document.errors[0]!.message}`);
    return document.toJS() as Manifest;
  });
}

/**
 * The fields of `manifest` that its kind's schema does not know: the schema's validator reads
 * each field it knows (and enumerates maps such as labels), so a field it never read is unknown.
 * The API server would drop one silently, or only warn: a misspelt field is a setting lost.
 */
function unknownFields(manifest: Manifest): string[] {
  const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`]!;
  const tracked: Array<{ at: string; target: Record<string, unknown>; read: Set<string>; enumerated: boolean }> = [];
  const track = (value: unknown, at: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) {
      const items = value.map((item, i) => track(item, `${at}[${i}]`));
      return items;
    }
    const entry = { at, target: value as Record<string, unknown>, read: new Set<string>(), enumerated: false };
    tracked.push(entry);
    const children = new Map<string, unknown>();
    return new Proxy(entry.target, {
      get(target, key) {
        if (typeof key !== 'string') return Reflect.get(target, key);
        entry.read.add(key);
        if (!children.has(key)) children.set(key, track(target[key], `${at}.${key}`));
        return children.get(key);
      },
      has(target, key) {
        if (typeof key === 'string') entry.read.add(key);
        return Reflect.has(target, key);
      },
      ownKeys(target) {
        entry.enumerated = true;
        return Reflect.ownKeys(target);
      },
    });
  };
  const model = new Model(manifest as never);
  model.validate.call(track(JSON.parse(JSON.stringify(model)), manifest.kind));
  return tracked.filter((t) => !t.enumerated).flatMap((t) => Object.keys(t.target).filter((key) => !t.read.has(key)).map((key) => `${t.at}.${key}`));
}

const overlay = render('deploy/kubernetes/overlays/example');
const base = render('deploy/kubernetes/base');
const one = <K extends string>(manifests: Manifest[], kind: K): Manifest => {
  const found = manifests.filter((m) => m.kind === kind);
  expect(found).toHaveLength(1);
  return found[0]!;
};
/** The object of `kind` named `name`, which must be there once. */
const named = (manifests: Manifest[], kind: string, name: string): Manifest => {
  const found = manifests.filter((m) => m.kind === kind && m.metadata.name === name);
  expect(found).toHaveLength(1);
  return found[0]!;
};
type DeploymentManifest = Manifest & { spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: IPodTemplateSpec } };
type ServiceManifest = Manifest & { spec: { selector: Record<string, string>; clusterIP?: string; ports: Array<{ name: string; port: number; targetPort: string | number }> } };
type PdbManifest = Manifest & { spec: { maxUnavailable?: number; minAvailable?: number; selector: { matchLabels: Record<string, string> } } };
/** The example overlay's Deployments, each with the Service and the PodDisruptionBudget of its own name. */
const workloads = Object.fromEntries(
  (['card-approval-worker', 'card-approval-worker-relays'] as const).map((name) => [
    name,
    { deployment: named(overlay, 'Deployment', name) as DeploymentManifest, service: named(overlay, 'Service', name) as ServiceManifest, pdb: named(overlay, 'PodDisruptionBudget', name) as PdbManifest },
  ]),
) as Record<'card-approval-worker' | 'card-approval-worker-relays', { deployment: DeploymentManifest; service: ServiceManifest; pdb: PdbManifest }>;
const deployment = workloads['card-approval-worker'].deployment;
const relays = workloads['card-approval-worker-relays'].deployment;
const deployments = { [deployment.metadata.name]: deployment, [relays.metadata.name]: relays };
const job = one(overlay, 'Job') as Manifest & { spec: { template: IPodTemplateSpec } };
const service = workloads['card-approval-worker'].service;
const configMap = one(overlay, 'ConfigMap') as Manifest & { data: Record<string, string> };
const serviceMonitor = one(overlay, 'ServiceMonitor') as Manifest & { spec: { jobLabel?: string; selector: { matchLabels: Record<string, string> }; endpoints: Array<{ port: string; path: string }> } };
const pods = { 'Deployment card-approval-worker': deployment.spec.template, 'Deployment card-approval-worker-relays': relays.spec.template, Job: job.spec.template };
const container = (pod: IPodTemplateSpec): IContainer => {
  expect(pod.spec!.containers).toHaveLength(1);
  return pod.spec!.containers[0]!;
};
const worker = container(deployment.spec.template);
const migrate = container(job.spec.template);
/** Whether a selector's labels are all among `labels`. */
const selects = (selector: Record<string, string>, labels: Record<string, string> | undefined): boolean => Object.entries(selector).every(([k, v]) => labels?.[k] === v);
/** The ROLE a Deployment's pods run: their own variable, else the ConfigMap's, else the setting's default. */
const roleOf = (d: DeploymentManifest, settings: Record<string, string> = configMap.data): string =>
  container(d.spec.template).env?.find((v) => v.name === 'ROLE')?.value ?? settings.ROLE ?? String(SETTINGS_BY_SUBJECT.flatMap(({ settings: s }) => Object.entries(s)).find(([name]) => name === 'ROLE')![1].default);

const served = Object.keys((JSON.parse(fs.readFileSync(path.join(ROOT, 'docs/openapi/openapi.json'), 'utf8')) as { paths: Record<string, unknown> }).paths);
const image = readDockerfile().at(-1)!;
const settings = SETTINGS_BY_SUBJECT.flatMap(({ settings: s }) => Object.entries(s));
const secretSettings = settings.filter(([, s]) => s.secret).map(([name]) => name);
/** Every variable the configuration reads: each setting, and the _FILE form of secrets and long values. */
const known = new Set(settings.flatMap(([name, s]) => (s.secret || s.file ? [name, `${name}_FILE`] : [name])));

test.each([
  ['the example overlay', overlay],
  ['the base', base],
])('%s renders, and every object in it is valid against its schema with no unknown field', (_, manifests) => {
  expect(manifests.length).toBeGreaterThan(0);
  for (const manifest of manifests) {
    const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
    expect({ object: `${manifest.kind}/${manifest.metadata.name}`, model: Model !== undefined }).toEqual({ object: `${manifest.kind}/${manifest.metadata.name}`, model: true });
    expect(() => new Model!(manifest as never).validate()).not.toThrow();
    expect({ object: `${manifest.kind}/${manifest.metadata.name}`, unknown: unknownFields(manifest) }).toEqual({ object: `${manifest.kind}/${manifest.metadata.name}`, unknown: [] });
  }
});

test('the unknown-field check finds a misspelt field', () => {
  const misspelt = structuredClone(deployment);
  (misspelt.spec.template.spec!.containers[0]!.securityContext as Record<string, unknown>).readOnlyRootFileSystem = true;
  expect(unknownFields(misspelt)).toEqual(['Deployment.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem']);
});

test('the example overlay sets the namespace, the image of the workers and of the migration, and the replicas; the namespace enforces the restricted Pod Security Standard', () => {
  expect(overlay.map((m) => `${m.kind}/${m.metadata.name.replace(/-[a-z0-9]{10}$/, '')}`).sort()).toEqual(
    [
      'ConfigMap/card-approval-worker',
      'Deployment/card-approval-worker',
      'Deployment/card-approval-worker-relays',
      'Job/card-approval-worker-migrate',
      'Namespace/card-approvals',
      'PodDisruptionBudget/card-approval-worker',
      'PodDisruptionBudget/card-approval-worker-relays',
      'Service/card-approval-worker',
      'Service/card-approval-worker-relays',
      'ServiceMonitor/card-approval-worker',
    ].sort(),
  );
  for (const m of overlay.filter((m) => m.kind !== 'Namespace')) expect(m.metadata.namespace).toBe('card-approvals');
  expect(one(overlay, 'Namespace').metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted' });
  expect(worker.image).toBe('registry.bank.example/card-approval-worker:0.1.0');
  expect(container(relays.spec.template).image).toBe(worker.image);
  expect(migrate.image).toBe(worker.image);
  expect({ consumers: deployment.spec.replicas, relays: relays.spec.replicas }).toEqual({ consumers: 3, relays: 2 });
});

test('the base runs every role in one Deployment (ROLE unset: all); the example overlay runs the consumers and the relays apart, from one pod spec that differs in ROLE alone', () => {
  const allInOne = one(base, 'Deployment') as DeploymentManifest;
  expect(base.filter((m) => m.kind === 'Deployment' || m.kind === 'Service' || m.kind === 'PodDisruptionBudget').map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual(['Deployment/card-approval-worker', 'PodDisruptionBudget/card-approval-worker', 'Service/card-approval-worker']);
  expect(roleOf(allInOne, (one(base, 'ConfigMap') as Manifest & { data: Record<string, string> }).data)).toBe('all');
  expect({ consumers: roleOf(deployment), relays: roleOf(relays) }).toEqual({ consumers: 'consumer', relays: 'relays' });
  for (const d of Object.values(deployments)) expect(ROLES).toContain(roleOf(d));
  // What tells the roles apart is ROLE, and the component label that the selectors read.
  const spec = (d: DeploymentManifest) => {
    const podSpec = structuredClone(d.spec.template.spec!);
    for (const c of podSpec.containers) c.env = c.env?.filter((v) => v.name !== 'ROLE');
    return podSpec;
  };
  expect(spec(relays)).toEqual(spec(deployment));
  expect({ ...relays.spec.template.metadata!.labels, 'app.kubernetes.io/component': 'worker' }).toEqual(deployment.spec.template.metadata!.labels);
});

test.each(Object.entries(deployments))('the probes of %s ask the routes the worker serves for them: startup and liveness /health/live, readiness /health/ready, on the port the image exposes', (_, d) => {
  const worker = container(d.spec.template);
  const probes = { startup: worker.startupProbe!, liveness: worker.livenessProbe!, readiness: worker.readinessProbe! };
  expect(Object.fromEntries(Object.entries(probes).map(([name, probe]) => [name, probe.httpGet?.path]))).toEqual({ startup: '/health/live', liveness: '/health/live', readiness: '/health/ready' });
  for (const probe of Object.values(probes)) {
    expect(served).toContain(probe.httpGet!.path);
    expect(probe.httpGet!.port).toBe('http');
  }
  expect(worker.ports).toEqual([{ name: 'http', containerPort: image.expose[0], protocol: 'TCP' }]);
  // Start-up loads the modules before the port is bound: a minute for that.
  expect(probes.startup.periodSeconds! * probes.startup.failureThreshold!).toBeGreaterThanOrEqual(60);
});

test.each(Object.keys(workloads))('the Service and the PodDisruptionBudget %s select the pods of the Deployment of that name, and only them', (name) => {
  const own = workloads[name as keyof typeof workloads];
  const podLabels = own.deployment.spec.template.metadata!.labels!;
  expect(own.deployment.spec.selector.matchLabels).toEqual(podLabels);
  expect(own.service.spec.selector).toEqual(podLabels);
  expect(own.pdb.spec.selector.matchLabels).toEqual(podLabels);
  expect(own.pdb.spec.maxUnavailable).toBe(1);
  // Neither the other Deployment's pods nor the migration's.
  const others = [...Object.values(workloads).filter((w) => w !== own).map((w) => w.deployment.spec.template), job.spec.template];
  for (const pod of others) {
    expect(selects(own.service.spec.selector, pod.metadata!.labels)).toBe(false);
    expect(selects(own.pdb.spec.selector.matchLabels, pod.metadata!.labels)).toBe(false);
    expect(selects(own.deployment.spec.selector.matchLabels, pod.metadata!.labels)).toBe(false);
  }
  expect(own.service.spec.ports).toEqual([{ name: 'http', port: image.expose[0], targetPort: 'http', protocol: 'TCP' }]);
});

test("the consumers' Service is the one that takes traffic; the relays' is headless, there to be scraped (they serve no API, page or email link)", () => {
  expect(service.spec.clusterIP).toBeUndefined();
  expect(workloads['card-approval-worker-relays'].service.spec.clusterIP).toBe('None');
});

test('the ServiceMonitor scrapes /metrics through both Services, under the one job the alert rules ask for', () => {
  const services = Object.values(workloads).map((w) => w.service);
  for (const s of services) expect({ service: s.metadata.name, selected: selects(serviceMonitor.spec.selector.matchLabels, s.metadata.labels) }).toEqual({ service: s.metadata.name, selected: true });
  expect(serviceMonitor.spec.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })]);
  expect(served).toContain('/metrics');
  // The job is the Services' value of jobLabel (their name when it is unset).
  const jobs = new Set(services.map((s) => (serviceMonitor.spec.jobLabel ? s.metadata.labels?.[serviceMonitor.spec.jobLabel] : s.metadata.name)));
  const asked = new Set(alertRules().flatMap(({ expr }) => [...expr.matchAll(/\bjob="([^"]+)"/g)].map((m) => m[1])));
  expect(asked.size).toBeGreaterThan(0);
  expect([...jobs]).toEqual([...asked]);
});

test.each(Object.entries(pods))('the %s pod runs as the node user, not root, with a read-only root filesystem, no privilege escalation, no capability, the default seccomp profile and no API token', (_, pod) => {
  expect(pod.spec!.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
  expect(pod.spec!.automountServiceAccountToken).toBe(false);
  expect(image.user).toBe('node'); // uid 1000 in the node images
  for (const c of [...pod.spec!.containers, ...(pod.spec!.initContainers ?? [])]) {
    expect(c.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    // The image writes no file (test/integration/production-install.test.ts): nothing is mounted writable.
    for (const mount of c.volumeMounts ?? []) expect(mount.readOnly).toBe(true);
  }
});

test.each(Object.entries(pods))('the %s pod has its memory limit as its request, and the heap the image gives it at that limit is the one the benchmarks ran with', (kind, pod) => {
  const { requests, limits } = container(pod).resources!;
  expect(requests!.memory).toBe(limits!.memory);
  expect(limits!.cpu).toBeDefined();
  if (kind === 'Job') return;
  const mebibytes = Number(/^(\d+)Mi$/.exec(String(limits!.memory))![1]);
  const percent = Number(/(?:^| )--max-old-space-size-percentage=(\d+)(?: |$)/.exec(image.env.NODE_OPTIONS!)![1]);
  const benchmarked = Number(WORKER_ARGS.find((a) => a.startsWith('--max-old-space-size='))!.split('=')[1]);
  expect((mebibytes * percent) / 100).toBe(benchmarked);
});

test.each(Object.entries(deployments))('the Deployment %s gives the worker longer than its own shutdown deadline to stop, and rolls one new pod in before an old one goes', (_, d) => {
  const deadlineMs = Number(/const SHUTDOWN_DEADLINE_MS = ([\d_]+);/.exec(fs.readFileSync(path.join(ROOT, 'src/main.ts'), 'utf8'))![1]!.replace(/_/g, ''));
  expect(d.spec.template.spec!.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(deadlineMs);
  expect((d.spec as { strategy?: unknown }).strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
});

/** The files each container reads its secrets from: variable → (Secret, key), through its mounts. */
function secretFiles(pod: IPodTemplateSpec): Record<string, { secret: string; key: string }> {
  const c = container(pod);
  const secretVolumes = new Map((pod.spec!.volumes ?? []).filter((v) => v.secret).map((v) => [v.name, v.secret!.secretName!]));
  const files: Record<string, { secret: string; key: string }> = {};
  for (const variable of c.env ?? []) {
    if (!variable.name.endsWith('_FILE')) continue;
    const mount = (c.volumeMounts ?? []).find((m) => variable.value!.startsWith(`${m.mountPath}/`));
    expect({ variable: variable.name, mounted: mount !== undefined && secretVolumes.has(mount.name) }).toEqual({ variable: variable.name, mounted: true });
    files[variable.name] = { secret: secretVolumes.get(mount!.name)!, key: variable.value!.slice(mount!.mountPath.length + 1) };
  }
  return files;
}

test.each(Object.entries(pods))('the %s pod takes its secrets as files of mounted Secrets, never as environment values', (_, pod) => {
  const c = container(pod);
  expect((c.env ?? []).filter((v) => v.valueFrom)).toEqual([]);
  expect((c.envFrom ?? []).filter((e) => e.secretRef)).toEqual([]);
  for (const name of secretSettings) {
    expect((c.env ?? []).map((v) => v.name)).not.toContain(name);
    expect(Object.keys(configMap.data)).not.toContain(name);
  }
  for (const volume of pod.spec!.volumes ?? []) expect(volume.secret?.defaultMode ?? 0o440).toBe(0o440);
  expect(pod.spec!.securityContext!.fsGroup).toBe(1000);
});

test('the migration Job runs the migration command with the migrator\'s credentials only, and the Deployments the worker with the worker\'s only', () => {
  expect(migrate.command).toEqual(['node', 'dist/entry-points/cli/migrate.js']);
  expect(fs.existsSync(path.join(ROOT, 'src/entry-points/cli/migrate.ts'))).toBe(true);
  expect(job.spec.template.spec!.restartPolicy).toBe('Never');
  expect(secretFiles(job.spec.template)).toEqual({ DATABASE_URL_FILE: { secret: 'card-approval-migrator', key: 'database-url' } });
  expect(migrate.envFrom ?? []).toEqual([]);
  for (const d of Object.values(deployments)) {
    expect(secretFiles(d.spec.template)).toEqual({
      DATABASE_URL_FILE: { secret: 'card-approval-worker', key: 'database-url' },
      SMTP_URL_FILE: { secret: 'card-approval-worker', key: 'smtp-url' },
      ACCESS_LOG_HASH_KEY_FILE: { secret: 'card-approval-worker', key: 'access-log-hash-key' },
    });
    expect(container(d.spec.template).command).toBeUndefined(); // the image's CMD
  }
});

test('every variable the manifests set is a setting the worker reads', () => {
  const workers = Object.values(deployments).map((d) => container(d.spec.template));
  const names = [...Object.keys(configMap.data), ...[...workers, migrate].flatMap((c) => (c.env ?? []).map((v) => v.name))];
  expect(names.filter((name) => !known.has(name))).toEqual([]);
  for (const c of workers) expect(c.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }]);
});

describe('with the Secrets mounted (sample values in files)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'card-approval-secrets-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const samples: Record<string, string> = {
    'card-approval-migrator/database-url': 'postgres://card_approvals_migrator:a%20password@db.bank.example:5432/card_approvals',
    'card-approval-worker/database-url': 'postgres://card_approvals_worker:another%20password@db.bank.example:5432/card_approvals',
    'card-approval-worker/smtp-url': 'smtps://card-approvals:a-password@smtp.bank.example:465',
    'card-approval-worker/access-log-hash-key': 'an-access-log-hash-key-of-enough-characters',
  };
  /** The container's environment as the pod gets it, its secret files in `dir`. */
  const environment = (pod: IPodTemplateSpec): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...image.env, ...(container(pod).envFrom?.length ? configMap.data : {}) };
    for (const [variable, { secret, key }] of Object.entries(secretFiles(pod))) {
      const file = path.join(dir, secret, key);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, `${samples[`${secret}/${key}`]}\n`);
      env[variable] = file;
    }
    for (const variable of container(pod).env ?? []) if (!variable.name.endsWith('_FILE')) env[variable.name] = variable.value;
    return env;
  };

  test.each(Object.entries(deployments))("the settings of %s are a valid production configuration of its role: it migrates nothing and listens beyond loopback", (_, d) => {
    const config = loadConfig(environment(d.spec.template));
    expect(config).toMatchObject({ production: true, role: roleOf(d), migrate: false, http: { host: '0.0.0.0', port: image.expose[0] }, databaseUrl: samples['card-approval-worker/database-url'] });
  });

  test('the migration reads the migrator\'s database URL', () => {
    expect(loadDatabaseUrl(environment(job.spec.template))).toBe(samples['card-approval-migrator/database-url']);
  });
});
