/**
 * The runs console's page and its two bundled assets (console/dist, built by
 * scripts/build-console.ts). Static and public: the page holds no data, and the browser code
 * reads the API with the token its user pastes. As strict a policy as /docs's, and stricter:
 * no inline style either, and the page may connect to this origin only.
 */
import { readFileSync } from 'node:fs';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** Where the page loads its assets from; the page itself is served at `/console`. */
export const CONSOLE_ASSET_PATH = '/console/assets/';

export const CONSOLE_CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** The only files ever read: names are looked up here, never joined from input. */
const ASSET_TYPES: ReadonlyMap<string, string> = new Map([
  ['console.js', 'text/javascript; charset=utf-8'],
  ['console.css', 'text/css; charset=utf-8'],
]);

export function consolePage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Healthcare ETL console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${CONSOLE_ASSET_PATH}console.css">
<script src="${CONSOLE_ASSET_PATH}console.js" defer></script>
</head>
<body>
<div id="console"><noscript>The console needs JavaScript.</noscript></div>
</body>
</html>
`;
}

export function consolePageResponse(): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: 200,
    headers: {
      ...CONSOLE_SECURITY_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
    },
    body: consolePage(),
  };
}

/**
 * Reads the bundle's files from `bundleDirectory` (a directory URL), once each.
 * Returns the `/console/assets/{name}` response, or `undefined` (answer 404) for any other name.
 */
export function consoleAssets(
  bundleDirectory: URL,
): (name: string) => APIGatewayProxyStructuredResultV2 | undefined {
  const cache = new Map<string, string>();
  return (name) => {
    const contentType = ASSET_TYPES.get(name);
    if (contentType === undefined) return undefined;
    let body = cache.get(name);
    if (body === undefined) {
      body = readFileSync(new URL(name, bundleDirectory), 'utf8');
      cache.set(name, body);
    }
    return {
      statusCode: 200,
      headers: {
        ...CONSOLE_SECURITY_HEADERS,
        'content-type': contentType,
        // Unversioned URLs: revalidated each load, so a deploy shows at once.
        'cache-control': 'no-cache',
      },
      body,
    };
  };
}
