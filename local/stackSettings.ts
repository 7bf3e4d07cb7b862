import type { Environment } from '../lib/config.ts';

/**
 * `npm start`'s own settings (the handlers' are lib/config.ts's): read from the environment,
 * blank treated as unset, a malformed value refused by name.
 */

/** The API's port when PORT is unset. */
export const DEFAULT_API_PORT = 3000;
/** AWS Step Functions Local's port, where `aws stepfunctions --endpoint-url` habits point. */
export const DEFAULT_STEP_FUNCTIONS_PORT = 8083;

/** The ports clients of the embedded stack use. */
export interface StackPorts {
  /** PORT: the API's front. */
  readonly api: number;
  /** STEP_FUNCTIONS_PORT: the local Step Functions endpoint. */
  readonly stepFunctions: number;
}

export function setting(environment: Environment, name: string): string | undefined {
  const value = environment[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** A whole number of at least 1, or `fallback` when unset. */
export function positiveInteger(environment: Environment, name: string, fallback: number): number {
  const text = setting(environment, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`${name} must be a whole number of at least 1, not "${text}"`);
  }
  return value;
}

function port(environment: Environment, name: string, fallback: number): number {
  const text = setting(environment, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > 65_535) {
    throw new Error(`${name} must be a port number from 1 to 65535, not "${text}"`);
  }
  return value;
}

/** PORT: where the API's front listens, as `npm start` and the clients of its API read it. */
export function apiPort(environment: Environment): number {
  return port(environment, 'PORT', DEFAULT_API_PORT);
}

export function stackPorts(environment: Environment): StackPorts {
  return {
    api: apiPort(environment),
    stepFunctions: port(environment, 'STEP_FUNCTIONS_PORT', DEFAULT_STEP_FUNCTIONS_PORT),
  };
}
