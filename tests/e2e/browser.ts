import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

/** Debian's Chromium (`.ci/run` installs it): playwright-core cannot download a browser here. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Where the browser tests keep their screenshots: CI's artifacts, ignored by git. */
export const SCREENSHOT_DIR = join(import.meta.dirname, '..', '..', '.data', 'screenshots');

/** A headless Chromium that reaches nothing but the stack: no updates, no first-run, no telemetry. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      // Chromium's sandbox needs user namespaces it is refused as root.
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

export interface ScreenshotOptions {
  /** All of the page, not just the viewport. */
  readonly fullPage?: boolean;
  /** Only this area of the page, in CSS pixels. */
  readonly clip?: {
    readonly x: number;
    readonly y: number;
    readonly width: number;
    readonly height: number;
  };
}

/** Saves the page's screenshot (the viewport, all of it, or an area) as `<name>.png` under SCREENSHOT_DIR. */
export async function saveScreenshot(
  page: Page,
  name: string,
  options: ScreenshotOptions = {},
): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({
    path,
    fullPage: options.fullPage ?? false,
    ...(options.clip === undefined ? {} : { clip: { ...options.clip } }),
  });
  return path;
}
