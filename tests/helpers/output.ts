import { vi } from 'vitest';

/** Everything the process writes to stdout and stderr while `act` runs: where a Logger's lines go. */
export async function captureOutput<T>(
  act: () => Promise<T>,
): Promise<{ result: T; output: string }> {
  const written: string[] = [];
  const capture = (chunk: unknown): boolean => {
    written.push(String(chunk));
    return true;
  };
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  try {
    const result = await act();
    return { result, output: written.join('') };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}
