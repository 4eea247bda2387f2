/**
 * Entry point of the gateway that `npm run bench` measures as its baseline:
 * the same gateway as gateway/index.ts, configured the same way, but started
 * with `disableChecksForBenchmark`, so it runs no credential check,
 * authorization, operation limits or rate limits. It exists only so that
 * bench/run.ts can start that gateway as a process of its own. It exits in
 * production mode.
 */
import { isProduction, loadConfig } from '../platform/config.js';
import { createLogger } from '../platform/logger.js';
import { stopOnSignals } from '../platform/main.js';
import { startGateway } from '../gateway/server.js';

const config = loadConfig();
const logger = createLogger('gateway-without-checks', config.LOG_LEVEL);
if (isProduction(config)) {
  logger.fatal(
    'bench/gateway-without-checks.ts serves every caller without checks and does not start in production mode; start gateway/index.ts instead',
  );
  process.exit(1);
}
try {
  const gateway = await startGateway({
    config,
    logger,
    supergraphPath: config.SUPERGRAPH_PATH,
    host: config.HOST,
    port: config.GATEWAY_PORT,
    disableChecksForBenchmark: true,
  });
  stopOnSignals(logger, () => gateway.close());
} catch (error) {
  logger.fatal({ err: error }, 'gateway failed to start');
  process.exit(1);
}
