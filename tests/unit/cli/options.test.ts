import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../cli/ingest/errors.ts';
import { type IngestOptions, parseCommandLine } from '../../../cli/ingest/options.ts';
import { thrownBySync } from '../../helpers/thrown.ts';

describe('parseCommandLine', () => {
  it('applies the defaults to a bare input path', () => {
    // Act
    const commandLine = parseCommandLine(['data/Patient.ndjson'], {});

    // Assess
    expect(commandLine).toStrictEqual({
      help: false,
      inputPath: 'data/Patient.ndjson',
      apiUrl: 'http://127.0.0.1:3000',
      token: undefined,
      batchSize: undefined,
      outcomesFile: undefined,
      stateDir: '.data/ingest',
      maxBatches: undefined,
      runTimeoutSeconds: 600,
      progress: true,
    } satisfies { help: false } & IngestOptions);
  });

  it('takes every option from the command line over the environment', () => {
    // Prepare
    const env = { ETL_API_URL: 'http://env.example:1', ETL_TOKEN: 'from-env' };

    // Act
    const commandLine = parseCommandLine(
      [
        'in.json',
        '--api',
        'https://etl.example/',
        '--token',
        'from-flag',
        '--batch-size',
        '48',
        '--outcomes',
        'out.ndjson',
        '--state-dir',
        'state',
        '--max-batches',
        '1',
        '--run-timeout',
        '30',
        '--no-progress',
      ],
      env,
    );

    // Assess
    expect(commandLine).toMatchObject({
      inputPath: 'in.json',
      apiUrl: 'https://etl.example',
      token: 'from-flag',
      batchSize: 48,
      outcomesFile: 'out.ndjson',
      stateDir: 'state',
      maxBatches: 1,
      runTimeoutSeconds: 30,
      progress: false,
    });
  });

  it('reads the API URL and the token from ETL_API_URL and ETL_TOKEN', () => {
    // Act
    const commandLine = parseCommandLine(['in.ndjson'], {
      ETL_API_URL: 'http://127.0.0.1:4000',
      ETL_TOKEN: 'token-from-env',
    });

    // Assess
    expect(commandLine).toMatchObject({ apiUrl: 'http://127.0.0.1:4000', token: 'token-from-env' });
  });

  it.each<[string, Record<string, string>, string]>([
    [
      'ETL_API_URL over PORT',
      { ETL_API_URL: 'http://etl.example:8000', PORT: '4100' },
      'http://etl.example:8000',
    ],
    ['PORT without ETL_API_URL', { PORT: '4100' }, 'http://127.0.0.1:4100'],
    ['PORT when ETL_API_URL is blank', { ETL_API_URL: ' ', PORT: '4100' }, 'http://127.0.0.1:4100'],
    ['port 3000 when PORT is blank', { PORT: '' }, 'http://127.0.0.1:3000'],
  ])('finds the API from %s', (_case, env, expected) => {
    // Act
    const commandLine = parseCommandLine(['in.ndjson'], env);

    // Assess
    expect(commandLine).toMatchObject({ apiUrl: expected });
  });

  it.each([['0'], ['65536'], ['30x0']])('refuses PORT=%s with a UsageError naming PORT', (port) => {
    // Act
    const error = thrownBySync(() => parseCommandLine(['in.ndjson'], { PORT: port }));

    // Assess
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/^PORT must be a port number/);
  });

  it('trims a token read from a file, and refuses one with inner whitespace', () => {
    // Act
    const trimmed = parseCommandLine(['in.ndjson'], { ETL_TOKEN: 'abc.def.ghi\n' });
    const error = thrownBySync(() => parseCommandLine(['in.ndjson', '--token', 'abc def'], {}));

    // Assess
    expect(trimmed).toMatchObject({ token: 'abc.def.ghi' });
    expect(error).toBeInstanceOf(UsageError);
  });

  it.each([['--help'], ['-h']])('%s asks for the usage, even without an input', (flag) => {
    // Act
    const commandLine = parseCommandLine([flag], {});

    // Assess
    expect(commandLine).toStrictEqual({ help: true });
  });

  it.each<[string, string[], RegExp]>([
    ['no input', [], /input is missing/],
    ['two inputs', ['a.ndjson', 'b.ndjson'], /one input at a time/],
    ['an unknown flag', ['a.ndjson', '--batchsize', '5'], /--batchsize/],
    ['a flag without its value', ['a.ndjson', '--batch-size'], /--batch-size/],
    ['a batch size of 0', ['a.ndjson', '--batch-size', '0'], /--batch-size must be/],
    ['a fractional batch size', ['a.ndjson', '--batch-size', '2.5'], /--batch-size must be/],
    [
      'a batch size over the server ceiling',
      ['a.ndjson', '--batch-size', '100001'],
      /--batch-size/,
    ],
    ['a negative max-batches', ['a.ndjson', '--max-batches', '-1'], /--max-batches/],
    ['a run timeout that is not a number', ['a.ndjson', '--run-timeout', 'soon'], /--run-timeout/],
    ['an API URL that is not http', ['a.ndjson', '--api', 'ftp://etl.example'], /--api must be/],
    ['an API URL that is not a URL', ['a.ndjson', '--api', 'localhost:3000x'], /--api must be/],
  ])('refuses %s with a UsageError', (_case, argv, message) => {
    // Act
    const error = thrownBySync(() => parseCommandLine(argv, {}));

    // Assess
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(message);
  });
});
