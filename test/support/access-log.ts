// Reads the access log a worker wrote (ACCESS_LOG, a file in the tests): one JSON line per answer.
import fs from 'node:fs';

export interface AccessLine {
  log: string;
  time: string;
  callerId: string | null;
  callerRoles: string[];
  operation: string | null;
  method: string;
  route: string | null;
  status: number;
  requestIds: string[];
  requestIdsOmitted?: number;
  query?: Record<string, unknown>;
  terms?: Record<string, { length: number; hmac: string }>;
  replayed?: true;
}

/** Every line of the access log in `file` so far (none before the first answer). */
export const accessLines = (file: string): AccessLine[] =>
  fs.existsSync(file)
    ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as AccessLine)
    : [];
