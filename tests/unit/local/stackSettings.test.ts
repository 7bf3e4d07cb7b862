import { describe, expect, it } from 'vitest';
import { positiveInteger, stackPorts } from '../../../local/stackSettings.ts';

describe("npm start's ports", () => {
  it.each([
    ['unset', {}],
    ['blank', { PORT: ' ', STEP_FUNCTIONS_PORT: '' }],
  ])('are 3000 for the API and 8083 for Step Functions when %s', (_, environment) => {
    // Act
    const ports = stackPorts(environment);

    // Assess
    expect(ports).toStrictEqual({ api: 3000, stepFunctions: 8083 });
  });

  it('are the ones PORT and STEP_FUNCTIONS_PORT set', () => {
    // Act
    const ports = stackPorts({ PORT: '8080', STEP_FUNCTIONS_PORT: ' 18083 ' });

    // Assess
    expect(ports).toStrictEqual({ api: 8080, stepFunctions: 18083 });
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '0'],
    ['STEP_FUNCTIONS_PORT', '65536'],
    ['STEP_FUNCTIONS_PORT', '8083.5'],
    ['STEP_FUNCTIONS_PORT', '-1'],
    ['STEP_FUNCTIONS_PORT', '0x1F93'],
  ])('refuse %s=%s, naming it', (name, value) => {
    // Act
    const read = () => stackPorts({ [name]: value });

    // Assess
    expect(read).toThrow(`${name} must be a port number from 1 to 65535, not "${value}"`);
  });
});

describe('a positive whole-number setting', () => {
  it.each([
    [undefined, 8],
    ['', 8],
    ['12', 12],
  ])('reads %j as %i', (value, expected) => {
    // Act
    const read = positiveInteger({ API_MAX_IN_FLIGHT: value }, 'API_MAX_IN_FLIGHT', 8);

    // Assess
    expect(read).toBe(expected);
  });

  it.each(['0', '1.5', 'many'])('refuses %j, naming it', (value) => {
    // Act
    const read = () => positiveInteger({ API_MAX_QUEUED: value }, 'API_MAX_QUEUED', 64);

    // Assess
    expect(read).toThrow(`API_MAX_QUEUED must be a whole number of at least 1, not "${value}"`);
  });
});
