/**
 * Swagger UI served from the installed `swagger-ui-dist` package, so the docs work
 * offline and no third-party script runs next to an API that handles PHI. The page
 * has no inline script: the CSP allows scripts from this origin only.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** Where the page loads its assets from; the page itself is served at `/docs`. */
export const DOCS_ASSET_PATH = '/docs/assets/';

export const DOCS_CONTENT_SECURITY_POLICY =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'";

/** Headers every docs response carries, page and assets alike. */
export const DOCS_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': DOCS_CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export interface DocsAsset {
  /** Text as is; binary files base64-encoded, as API Gateway expects with `isBase64Encoded`. */
  readonly body: string;
  readonly contentType: string;
  readonly isBase64Encoded: boolean;
}

interface PackageFile {
  readonly contentType: string;
  readonly binary: boolean;
}

const INITIALIZER_NAME = 'init.js';

/** The only package files ever read: names are looked up here, never joined from input. */
const PACKAGE_FILES: ReadonlyMap<string, PackageFile> = new Map([
  ['swagger-ui.css', { contentType: 'text/css; charset=utf-8', binary: false }],
  ['swagger-ui-bundle.js', { contentType: 'text/javascript; charset=utf-8', binary: false }],
  [
    'swagger-ui-standalone-preset.js',
    { contentType: 'text/javascript; charset=utf-8', binary: false },
  ],
  ['favicon-32x32.png', { contentType: 'image/png', binary: true }],
]);

// The URL comes from the page's data attribute, so this script is static and the page needs no inline code.
const INITIALIZER = `'use strict';
(() => {
  const root = document.getElementById('swagger-ui');
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    queryConfigEnabled: false,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
  });
})();
`;

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

const assets = new Map<string, DocsAsset>([
  [
    INITIALIZER_NAME,
    { body: INITIALIZER, contentType: 'text/javascript; charset=utf-8', isBase64Encoded: false },
  ],
]);

let packageDirectory: string | undefined;

function swaggerUiDirectory(): string {
  packageDirectory ??= dirname(
    createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'),
  );
  return packageDirectory;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

function assetUrl(name: string): string {
  return `${DOCS_ASSET_PATH}${name}`;
}

/** The Swagger UI page for the document at `openApiUrl`. */
export function docsPage(openApiUrl: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Healthcare ETL pipeline API</title>
<link rel="stylesheet" href="${assetUrl('swagger-ui.css')}">
<link rel="icon" type="image/png" sizes="32x32" href="${assetUrl('favicon-32x32.png')}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="${escapeHtml(openApiUrl)}"></div>
<script src="${assetUrl('swagger-ui-bundle.js')}"></script>
<script src="${assetUrl('swagger-ui-standalone-preset.js')}"></script>
<script src="${assetUrl(INITIALIZER_NAME)}"></script>
</body>
</html>
`;
}

/** One allowed asset by its bare file name (read once, then cached), or `undefined` for anything else. */
export function docsAsset(name: string): DocsAsset | undefined {
  const cached = assets.get(name);
  if (cached !== undefined) return cached;
  const file = PACKAGE_FILES.get(name);
  if (file === undefined) return undefined;
  const content = readFileSync(join(swaggerUiDirectory(), name));
  const asset: DocsAsset = {
    body: file.binary ? content.toString('base64') : content.toString('utf8'),
    contentType: file.contentType,
    isBase64Encoded: file.binary,
  };
  assets.set(name, asset);
  return asset;
}

/** The `/docs` response: the page with the security headers. */
export function docsPageResponse(openApiUrl: string): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: 200,
    headers: {
      ...DOCS_SECURITY_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
    },
    body: docsPage(openApiUrl),
  };
}

/** The `/docs/assets/{name}` response, or `undefined` (answer 404) for a name not allowed. */
export function docsAssetResponse(name: string): APIGatewayProxyStructuredResultV2 | undefined {
  const asset = docsAsset(name);
  if (asset === undefined) return undefined;
  return {
    statusCode: 200,
    headers: {
      ...DOCS_SECURITY_HEADERS,
      'content-type': asset.contentType,
      // Unversioned URLs: a day's caching, so a package upgrade shows within one.
      'cache-control': 'public, max-age=86400',
    },
    body: asset.body,
    isBase64Encoded: asset.isBase64Encoded,
  };
}
