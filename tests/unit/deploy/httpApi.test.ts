import { describe, expect, it } from 'vitest';
import {
  lambdaFunctions,
  PARAMS,
  propertiesOf,
  referencedId,
  resourcesOfType,
} from './packagedStack.ts';

type Access = 'jwt' | 'public';

/** Every route of the HTTP API: the function behind it, and whether the gateway checks a JWT. */
const ROUTES: Readonly<Record<string, readonly [functionName: string, access: Access]>> = {
  'POST /api/v1/ingest': ['ingest', 'jwt'],
  'GET /api/v1/runs/{runId}': ['getRun', 'jwt'],
  'GET /api/v1/runs/{runId}/rejections': ['listRunRejections', 'jwt'],
  'POST /api/v1/runs/{runId}/redrive': ['redriveRun', 'jwt'],
  'PUT /api/v1/patients/{id}/consent': ['putConsent', 'jwt'],
  'GET /api/v1/audit': ['listAudit', 'jwt'],
  'GET /api/v1/audit/verify': ['verifyAudit', 'jwt'],
  'GET /api/v1/patients/{id}': ['getPatient', 'jwt'],
  'GET /api/v1/patients': ['searchPatients', 'jwt'],
  'GET /fhir/r4/Patient/{id}': ['fhirReadPatient', 'jwt'],
  'GET /fhir/r4/Observation': ['fhirSearchObservations', 'jwt'],
  'GET /health': ['health', 'public'],
  'GET /openapi.json': ['openapi', 'public'],
  'GET /docs': ['docs', 'public'],
  'GET /docs/assets/{asset}': ['docs', 'public'],
};

interface Route {
  readonly routeKey: string;
  readonly properties: Readonly<Record<string, unknown>>;
}

function routes(): Route[] {
  return resourcesOfType('AWS::ApiGatewayV2::Route').map(([, route]) => ({
    routeKey: String(route.Properties?.['RouteKey']),
    properties: route.Properties ?? {},
  }));
}

/** The function name (serverless.yml's) a route's integration invokes. */
function functionBehind(route: Route): string | undefined {
  const target = route.properties['Target'] as { 'Fn::Join': [string, unknown[]] };
  const integrationId = referencedId(target['Fn::Join'][1][1]);
  const uri = propertiesOf(String(integrationId))['IntegrationUri'];
  return lambdaFunctions().find((fn) => fn.logicalId === referencedId(uri))?.name;
}

describe('the HTTP API in the packaged template', () => {
  it('has a JWT authorizer that verifies tokens of the configured issuer and audience', () => {
    // Act
    const authorizers = resourcesOfType('AWS::ApiGatewayV2::Authorizer');

    // Assess
    expect(authorizers.map(([logicalId]) => logicalId)).toEqual(['HttpApiAuthorizerJwt']);
    expect(propertiesOf('HttpApiAuthorizerJwt')).toEqual({
      ApiId: { Ref: 'HttpApi' },
      Name: 'jwt',
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: PARAMS.authIssuer, Audience: [PARAMS.authAudience] },
    });
  });

  it('serves exactly the routes listed here', () => {
    // Assess
    expect(
      routes()
        .map((route) => route.routeKey)
        .sort(),
    ).toEqual(Object.keys(ROUTES).sort());
  });

  it.each(Object.entries(ROUTES))('sends %s to %j', (routeKey, [functionName, access]) => {
    // Act
    const route = routes().find((candidate) => candidate.routeKey === routeKey);

    // Assess
    expect(route).toBeDefined();
    if (route === undefined) return;
    expect(functionBehind(route)).toBe(functionName);
    if (access === 'jwt') {
      expect(route.properties).toMatchObject({
        AuthorizationType: 'JWT',
        AuthorizerId: { Ref: 'HttpApiAuthorizerJwt' },
      });
    } else {
      expect(route.properties['AuthorizationType']).toBeUndefined();
      expect(route.properties['AuthorizerId']).toBeUndefined();
    }
  });
});
