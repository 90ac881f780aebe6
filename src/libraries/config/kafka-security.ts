// TLS and SASL to the brokers. Files are read here, once, so an unreadable or mismatched
// certificate, key or password stops start-up with its variable named instead of failing on every
// connection.
import fs from 'node:fs';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { flag, oneOf, optional, readSettings, setting, text } from './settings';

/** TLS to the brokers. PEM contents, read at start-up; the system's CAs are trusted when `ca` is absent. */
export interface KafkaTls {
  ca: string | undefined;
  /** A client certificate (chain) and its key, for brokers that require one (ssl.client.auth=required). */
  cert: string | undefined;
  key: string | undefined;
  keyPassword: string | undefined;
}

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export interface KafkaSasl {
  mechanism: (typeof SASL_MECHANISMS)[number];
  username: string;
  password: string;
}

const pemFile = (what: string) => optional({ kind: 'path of a PEM file', doc: what, schema: text() });

export const KAFKA_SECURITY_SETTINGS = {
  KAFKA_SSL: setting({ kind: 'true or false', doc: 'TLS to the brokers (the system\'s CAs unless KAFKA_SSL_CA_FILE is set).', schema: flag(), default: 'false' }),
  KAFKA_SSL_CA_FILE: pemFile('The CAs that signed the brokers\' certificates.'),
  KAFKA_SSL_CERT_FILE: pemFile('A client certificate (chain), for brokers that require one; with KAFKA_SSL_KEY_FILE.'),
  KAFKA_SSL_KEY_FILE: pemFile('The client certificate\'s private key; with KAFKA_SSL_CERT_FILE.'),
  KAFKA_SSL_KEY_PASSWORD: optional({ kind: 'text', doc: 'The password of an encrypted client key.', schema: text(), secret: true }),
  KAFKA_SASL_MECHANISM: optional({ kind: SASL_MECHANISMS.join(', '), doc: 'SASL login to the brokers; plain only over TLS, since it sends the password itself.', schema: oneOf(SASL_MECHANISMS, { caseless: true }) }),
  KAFKA_SASL_USERNAME: optional({ kind: 'text', doc: 'The SASL user.', schema: text() }),
  KAFKA_SASL_PASSWORD: optional({ kind: 'text', doc: 'The SASL password.', schema: text(), secret: true }),
};

export function readKafkaSecurity(env: NodeJS.ProcessEnv, problems: string[]): { ssl: KafkaTls | undefined; sasl: KafkaSasl | undefined } {
  const v = readSettings(KAFKA_SECURITY_SETTINGS, env, false, problems);
  const read = (name: 'KAFKA_SSL_CA_FILE' | 'KAFKA_SSL_CERT_FILE' | 'KAFKA_SSL_KEY_FILE'): string | undefined => {
    const file = v[name];
    if (file === undefined) return undefined;
    try {
      return fs.readFileSync(file, 'utf8');
    } catch (error) {
      problems.push(`${name}="${file}" cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
      return undefined;
    }
  };
  /** The PEM certificates a file holds; a problem if it holds none or one does not parse. */
  const certificates = (name: 'KAFKA_SSL_CA_FILE' | 'KAFKA_SSL_CERT_FILE', pem: string | undefined): X509Certificate[] => {
    if (pem === undefined) return [];
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    try {
      const parsed = blocks.map((block) => new X509Certificate(block));
      if (parsed.length === 0) problems.push(`${name}="${v[name]}" holds no PEM certificate`);
      return parsed;
    } catch {
      problems.push(`${name}="${v[name]}" holds a certificate that does not parse`);
      return [];
    }
  };

  let ssl: KafkaTls | undefined;
  if (!v.KAFKA_SSL) {
    for (const name of ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE', 'KAFKA_SSL_KEY_PASSWORD'] as const) {
      if (v[name] !== undefined) problems.push(`${name} is set but KAFKA_SSL is not true`);
    }
  } else {
    ssl = { ca: read('KAFKA_SSL_CA_FILE'), cert: read('KAFKA_SSL_CERT_FILE'), key: read('KAFKA_SSL_KEY_FILE'), keyPassword: v.KAFKA_SSL_KEY_PASSWORD };
    certificates('KAFKA_SSL_CA_FILE', ssl.ca);
    const [leaf] = certificates('KAFKA_SSL_CERT_FILE', ssl.cert);
    if (v.KAFKA_SSL_CERT_FILE && !v.KAFKA_SSL_KEY_FILE) problems.push('KAFKA_SSL_CERT_FILE needs KAFKA_SSL_KEY_FILE');
    if (v.KAFKA_SSL_KEY_FILE && !v.KAFKA_SSL_CERT_FILE) problems.push('KAFKA_SSL_KEY_FILE needs KAFKA_SSL_CERT_FILE');
    if (ssl.keyPassword !== undefined && !v.KAFKA_SSL_KEY_FILE) problems.push('KAFKA_SSL_KEY_PASSWORD needs KAFKA_SSL_KEY_FILE');
    if (leaf && Date.parse(leaf.validTo) < Date.now()) problems.push(`KAFKA_SSL_CERT_FILE="${v.KAFKA_SSL_CERT_FILE}" expired on ${new Date(leaf.validTo).toISOString()}`);
    let key: KeyObject | undefined;
    if (ssl.key !== undefined && ssl.keyPassword === undefined && /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(ssl.key)) {
      problems.push('KAFKA_SSL_KEY_FILE is encrypted: set KAFKA_SSL_KEY_PASSWORD or KAFKA_SSL_KEY_PASSWORD_FILE');
    } else if (ssl.key !== undefined) {
      try {
        key = createPrivateKey({ key: ssl.key, passphrase: ssl.keyPassword });
      } catch {
        problems.push(`KAFKA_SSL_KEY_FILE="${v.KAFKA_SSL_KEY_FILE}" is not a PEM private key${ssl.keyPassword !== undefined ? ' that KAFKA_SSL_KEY_PASSWORD opens' : ''}`);
      }
    }
    if (leaf && key && !leaf.checkPrivateKey(key)) problems.push('KAFKA_SSL_KEY_FILE is not the key of the certificate in KAFKA_SSL_CERT_FILE');
  }

  const { KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password } = v;
  if (mechanism === undefined) {
    if (env.KAFKA_SASL_MECHANISM?.trim()) return { ssl, sasl: undefined }; // named already: not one we know
    if (username !== undefined) problems.push('KAFKA_SASL_USERNAME is set but KAFKA_SASL_MECHANISM is not');
    if (password !== undefined) problems.push('KAFKA_SASL_PASSWORD is set but KAFKA_SASL_MECHANISM is not');
    return { ssl, sasl: undefined };
  }
  if (username === undefined) problems.push(`KAFKA_SASL_MECHANISM=${mechanism} needs KAFKA_SASL_USERNAME`);
  // A password file that is set but unreadable has its own problem line already.
  if (password === undefined && !env.KAFKA_SASL_PASSWORD_FILE?.trim()) problems.push(`KAFKA_SASL_MECHANISM=${mechanism} needs KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE`);
  // PLAIN sends the password itself; only an encrypted connection may carry it.
  if (mechanism === 'plain' && !v.KAFKA_SSL) problems.push('KAFKA_SASL_MECHANISM=plain sends the password as it is: it needs KAFKA_SSL=true');
  if (username === undefined || password === undefined) return { ssl, sasl: undefined };
  return { ssl, sasl: { mechanism, username, password } };
}
