import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { headerValue } from './body.ts';

// A host name or IP literal with an optional port: nothing a header could smuggle into a URL.
const HOST =
  /^(?:[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;
const PATH_PREFIX = /^(?:\/[A-Za-z0-9_.-]{1,128}){0,4}$/;

/**
 * The absolute URL at which `mount` (e.g. `/fhir/r4`) is served for this request: the Host
 * the client reached, the scheme the gateway reports (API Gateway always sends
 * X-Forwarded-Proto; serverless-offline sends none and serves plain HTTP), and any stage
 * prefix in front of the mount. Relative when the Host is missing or malformed.
 */
export function mountUrl(event: APIGatewayProxyEventV2, mount: string): string {
  const rawPath = typeof event.rawPath === 'string' ? event.rawPath : '';
  const at = rawPath.indexOf(`${mount}/`);
  const prefix = at > 0 && PATH_PREFIX.test(rawPath.slice(0, at)) ? rawPath.slice(0, at) : '';
  const path = `${prefix}${mount}`;
  const host = headerValue(event, 'host');
  if (host === undefined || !HOST.test(host)) return path;
  const forwarded = headerValue(event, 'x-forwarded-proto');
  const scheme = forwarded === 'https' || forwarded === 'http' ? forwarded : 'http';
  return `${scheme}://${host}${path}`;
}
