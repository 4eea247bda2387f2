/**
 * Entry point of the gateway process:
 * `tsx gateway/index.ts [--supergraph FILE]`.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../platform/config.js';
import { createLogger } from '../platform/logger.js';
import { stopOnSignals } from '../platform/main.js';
import { startGateway } from './server.js';

const USAGE = `Usage: tsx gateway/index.ts [--supergraph FILE]

Options:
  --supergraph FILE  Supergraph SDL file to serve and reload on change
                     (default: SUPERGRAPH_PATH, schema/supergraph.graphql)
  --help             Print this help and exit
`;

function parseFlags(): { supergraph?: string } {
  try {
    const { values } = parseArgs({
      options: {
        supergraph: { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    return { supergraph: values.supergraph };
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const flags = parseFlags();
  const config = loadConfig();
  const logger = createLogger('gateway', config.LOG_LEVEL);
  try {
    const gateway = await startGateway({
      config,
      logger,
      supergraphPath: flags.supergraph ?? config.SUPERGRAPH_PATH,
      host: config.HOST,
      port: config.GATEWAY_PORT,
    });
    stopOnSignals(logger, () => gateway.close());
  } catch (error) {
    logger.fatal({ err: error }, 'gateway failed to start');
    process.exit(1);
  }
}

await main();
