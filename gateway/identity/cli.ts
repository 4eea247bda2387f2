/**
 * Staff account administration: `npx tsx gateway/identity/cli.ts COMMAND`.
 * Production mode creates no account, so the first admin is made here.
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { loadConfig } from '../../platform/config.js';
import { connectDatabase } from '../../platform/database.js';
import type { EmbeddedServer } from '../../platform/embedded-postgres.js';
import { resolveDatabaseServer } from '../../platform/main.js';
import {
  gatewayDatabaseUrl,
  prepareGatewayDatabase,
  tables,
  type GatewayDatabase,
} from '../db/database.js';
import {
  createStaffAccount,
  disableStaffAccount,
  StaffAccountError,
} from './staff-accounts.js';

const USAGE = `Usage: npx tsx gateway/identity/cli.ts COMMAND [options]

Commands:
  create-staff --email EMAIL --role admin|support [--password-stdin]
      Creates a staff account. The password (12 to 1024 characters) is
      read from standard input with --password-stdin, otherwise from the
      STAFF_PASSWORD variable.
  disable-staff --email EMAIL
      Stops an account from signing in. Access tokens issued before stay
      valid until they expire (STAFF_TOKEN_TTL_SECONDS, default 900 s).

The database is GATEWAY_DATABASE_URL, or <DATABASE_PREFIX>_gateway on
DATABASE_URL; without either, the embedded server under DATA_DIR, started
for the command when it is not running. Migrations are applied first.
`;

class UsageError extends Error {}

async function readStandardInput(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function run(argv: string[], db: () => Promise<GatewayDatabase>) {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      email: { type: 'string' },
      role: { type: 'string' },
      'password-stdin': { type: 'boolean' },
    },
  });
  const [command] = positionals;
  if (!values.email) throw new UsageError('--email is required.');

  if (command === 'create-staff') {
    if (!values.role) throw new UsageError('--role is required.');
    const password = values['password-stdin']
      ? await readStandardInput()
      : process.env.STAFF_PASSWORD;
    if (!password) {
      throw new UsageError(
        'Give the password on standard input with --password-stdin, or in STAFF_PASSWORD.',
      );
    }
    const account = await createStaffAccount(await db(), {
      email: values.email,
      password,
      role: values.role,
    });
    process.stdout.write(
      `Created ${account.role} account ${account.email} (${account.id}).\n`,
    );
    return;
  }
  if (command === 'disable-staff') {
    if (!(await disableStaffAccount(await db(), values.email))) {
      throw new StaffAccountError(
        `No staff account has the email ${values.email}.`,
      );
    }
    process.stdout.write(`Disabled the account ${values.email}.\n`);
    return;
  }
  throw new UsageError(
    command ? `Unknown command "${command}".` : 'Give a command.',
  );
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const config = loadConfig();
  // Logs go to stderr, so stdout carries only the command's result.
  const logger = pino({ level: config.LOG_LEVEL }, pino.destination(2));
  let embedded: EmbeddedServer | undefined;
  let database: ReturnType<typeof connectDatabase<typeof tables>> | undefined;

  const openDatabase = async () => {
    let url = gatewayDatabaseUrl(config);
    if (!url) {
      const server = await resolveDatabaseServer(config, logger);
      embedded = server.embedded;
      url = gatewayDatabaseUrl(config, server.url)!;
    }
    await prepareGatewayDatabase(url, logger);
    database = connectDatabase(url, tables, { poolSize: 1 });
    return database.db;
  };

  try {
    await run(argv, openDatabase);
    return 0;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const isParseError =
      typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
    if (error instanceof UsageError || isParseError) {
      process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof StaffAccountError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    logger.error({ err: error }, 'staff command failed');
    return 1;
  } finally {
    await database?.close();
    await embedded?.stop();
  }
}

process.exitCode = await main(process.argv.slice(2));
