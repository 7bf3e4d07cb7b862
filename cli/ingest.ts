import { ingestCommand } from './ingest/ingestCommand.ts';

/**
 * `npm run ingest -- <file.ndjson | bundle.json | directory> [options]`: bulk-loads FHIR R4 data
 * through the running API; `--help` tells the rest.
 */
process.exitCode = await ingestCommand({
  argv: process.argv.slice(2),
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
});
