// Certificates a test makes for itself with openssl: a CA, a broker certificate for 127.0.0.1, a
// client certificate whose key is encrypted, and another CA with a client certificate of its own.
// They live in the test's own folder and expire in two days.
import fs from 'node:fs';
import path from 'node:path';
import { runTool } from '../stack/processes';

export interface KeyPair {
  /** Certificate (PEM file). */
  cert: string;
  /** Its private key (PEM file, PKCS#8). */
  key: string;
}

export interface TestCertificates {
  /** The CA that signed `broker` and `client` (PEM file). */
  ca: string;
  /** For the broker: subject alternative name IP 127.0.0.1; its key is not encrypted. */
  broker: KeyPair;
  /** For the worker: its key is encrypted with `clientKeyPassword`. */
  client: KeyPair;
  clientKeyPassword: string;
  /** Another CA (PEM file), which signed neither the broker's certificate nor the client's. */
  otherCa: string;
  /** A client certificate signed by `otherCa`, which the broker does not trust. */
  stranger: KeyPair;
}

const openssl = (dir: string, args: string[]): Promise<unknown> =>
  runTool('openssl', args, { cwd: dir, what: `openssl ${args[0]}`, hint: 'install openssl (for example: apt-get install openssl)' });

/** A P-256 key and a certificate for `subject`: self-signed (a CA) or signed by `issuer`. */
async function issue(dir: string, name: string, subject: string, opts: { issuer?: KeyPair; san?: string; password?: string }): Promise<KeyPair> {
  const pair = { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
  const keyArgs = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-keyout', pair.key, '-subj', `/CN=${subject}`];
  const encryption = opts.password === undefined ? ['-nodes'] : ['-passout', `pass:${opts.password}`];
  if (!opts.issuer) {
    await openssl(dir, ['req', '-x509', ...keyArgs, ...encryption, '-out', pair.cert, '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
    return pair;
  }
  const csr = path.join(dir, `${name}.csr`);
  const extensions = path.join(dir, `${name}.ext`);
  fs.writeFileSync(extensions, ['basicConstraints=CA:FALSE', ...(opts.san ? [`subjectAltName=${opts.san}`] : [])].join('\n'));
  await openssl(dir, ['req', '-new', ...keyArgs, ...encryption, '-out', csr]);
  await openssl(dir, ['x509', '-req', '-in', csr, '-CA', opts.issuer.cert, '-CAkey', opts.issuer.key, '-set_serial', `0x${Date.now().toString(16)}`, '-days', '2', '-extfile', extensions, '-out', pair.cert]);
  return pair;
}

export async function createCertificates(dir: string): Promise<TestCertificates> {
  const clientKeyPassword = 'client key password';
  const [ca, otherCa] = await Promise.all([issue(dir, 'ca', 'test-ca', {}), issue(dir, 'other-ca', 'another-ca', {})]);
  const [broker, client, stranger] = await Promise.all([
    issue(dir, 'broker', '127.0.0.1', { issuer: ca, san: 'IP:127.0.0.1' }),
    issue(dir, 'client', 'card-approval-worker', { issuer: ca, password: clientKeyPassword }),
    issue(dir, 'stranger', 'card-approval-worker', { issuer: otherCa }),
  ]);
  return { ca: ca.cert, broker, client, clientKeyPassword, otherCa: otherCa.cert, stranger };
}
