// Reads the SMTP server's inbox (MailDev's REST API).
import { pollUntil } from '../../src/libraries/retry';

export interface InboxEmail {
  id: string;
  subject: string;
  html?: string;
  text?: string;
  to: Array<{ address: string; name: string }>;
  headers: Record<string, string>;
}

export const messageIdOf = (email: InboxEmail): string | undefined => email.headers['message-id'];

export async function emailsTo(address: string): Promise<InboxEmail[]> {
  const res = await fetch(`${process.env.SMTP_INBOX_URL}/api/email?to.address=${encodeURIComponent(address.toLowerCase())}`);
  if (!res.ok) throw new Error(`inbox answered ${res.status}`);
  return (await res.json()) as InboxEmail[];
}

export function waitForEmails(address: string, count: number, timeoutMs = 30_000): Promise<InboxEmail[]> {
  return pollUntil(() => emailsTo(address), (emails) => emails.length >= count, { timeoutMs, what: `${count} email(s) to ${address}` });
}

/**
 * The message's header fields as delivered, names in lower case (folded lines unfolded). MailDev's
 * parsed `headers` leave out some (Reply-To among them); the source has them all.
 */
export async function deliveredHeaders(email: InboxEmail): Promise<Record<string, string>> {
  const res = await fetch(`${process.env.SMTP_INBOX_URL}/api/email/${encodeURIComponent(email.id)}/source`);
  if (!res.ok) throw new Error(`inbox answered ${res.status}`);
  const head = (await res.text()).split(/\r?\n\r?\n/, 1)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  return Object.fromEntries(head.split(/\r?\n/).map((line) => [line.slice(0, line.indexOf(':')).trim().toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
}
