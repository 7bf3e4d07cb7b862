/** Errors the CLI expects: each is printed as its message alone, never with a stack trace. */

/** The command line is wrong: exit code 2, with the usage hint. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The input cannot be read as NDJSON or a FHIR Bundle: exit code 2, nothing was sent. */
export class InputError extends Error {
  override readonly name = 'InputError';
}
