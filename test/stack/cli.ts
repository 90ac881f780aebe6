// `npm run stack -- up|down|status`: the local Kafka + schema registry + SMTP inbox + database.
import { loadStackConfig } from './stack-config';
import { describeFailure, stackDown, stackStatus, stackUp } from './local-stack';

async function main(command: string | undefined): Promise<number> {
  const config = loadStackConfig();
  switch (command) {
    case 'up': {
      const result = await stackUp(config);
      console.log(`stack ready in ${result.seconds.toFixed(1)}s (started: ${result.started.join(', ') || 'nothing'}; reused: ${result.reused.join(', ') || 'nothing'})`);
      for (const [name, value] of Object.entries(result.endpoints)) console.log(`  ${name}=${value}`);
      console.log(`  inbox web UI: ${config.inboxUrl}`);
      console.log(`  (also written to ${config.stackHome}/endpoints.env)`);
      return 0;
    }
    case 'down': {
      const stopped = await stackDown(config);
      console.log(`stopped: ${stopped.join(', ') || 'nothing this stack had started'}`);
      return 0;
    }
    case 'status': {
      const status = await stackStatus(config);
      for (const [name, healthy] of Object.entries(status)) console.log(`  ${name.padEnd(16)} ${healthy ? 'healthy' : 'down'}`);
      return Object.values(status).every(Boolean) ? 0 : 1;
    }
    default:
      console.error('usage: npm run stack -- up|down|status');
      return 2;
  }
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`stack: ${describeFailure(error)}`);
    process.exit(1);
  },
);
