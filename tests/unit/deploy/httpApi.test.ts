import { describe, expect, it } from 'vitest';
import { ROUTES, type Route, routeKeyOf } from '../../../lib/api/routes.ts';
import {
  lambdaFunctions,
  PARAMS,
  propertiesOf,
  referencedId,
  resourcesOfType,
} from './packagedStack.ts';

/** Every route of the route table as the gateway knows it: `GET /api/v1/runs/{runId}`, `$default`. */
const TABLE = Object.values<Route>(ROUTES).map((route) => ({
  routeKey: routeKeyOf(route),
  functionName: route.functionName,
  access: route.anyOf === 'public' ? 'public' : 'jwt',
}));

interface GatewayRoute {
  readonly routeKey: string;
  readonly properties: Readonly<Record<string, unknown>>;
}

function routes(): GatewayRoute[] {
  return resourcesOfType('AWS::ApiGatewayV2::Route').map(([, route]) => ({
    routeKey: String(route.Properties?.['RouteKey']),
    properties: route.Properties ?? {},
  }));
}

/** The function name (serverless.yml's) a route's integration invokes. */
function functionBehind(route: GatewayRoute): string | undefined {
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

  it('serves exactly the routes of the route table (lib/api/routes.ts)', () => {
    // Assess
    expect(TABLE.length).toBeGreaterThanOrEqual(15);
    expect(
      routes()
        .map((route) => route.routeKey)
        .sort(),
    ).toEqual(TABLE.map((entry) => entry.routeKey).sort());
  });

  it.each(TABLE)(
    'sends $routeKey to $functionName ($access)',
    ({ routeKey, functionName, access }) => {
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
    },
  );
});
