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
