// The bench's SMTP server: a real SMTP server (smtp-server) that accepts every message, counts it
// and keeps nothing, in a process of its own so that its CPU is measured apart. MailDev parses and
// stores every message, which on 2 cores takes a third of a core at a few hundred emails/s: the
// email phase would measure MailDev. MailDev stays the inbox for development and the tests.
//
// Run as a child with an IPC channel: it sends { port } once listening, and answers 'count' with
// { count, bytes }.
import { SMTPServer } from 'smtp-server';

let count = 0;
let bytes = 0;

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  disableReverseLookup: true,
  logger: false,
  onData(stream, _session, callback) {
    let size = 0;
    stream.on('data', (chunk: Buffer) => (size += chunk.length));
    stream.on('end', () => {
      count += 1;
      bytes += size;
      callback();
    });
  },
});

server.listen(0, '127.0.0.1', () => {
  const address = server.server.address();
  process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('message', (message) => {
  if (message === 'count') process.send?.({ count, bytes });
});
process.on('disconnect', () => process.exit(0));
