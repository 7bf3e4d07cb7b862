import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

/**
 * The stack as `npm run package` builds it (globalSetup.ts packages it once, offline), and the
 * helpers the deploy tests read it with. The stage and parameters are what an AWS deployment
 * passes: a JWKS issuer, and the RDS Proxy's subnets and security group.
 */
export const SERVICE = 'healthcare-etl';
export const STAGE = 'ci';
export const PARAMS = {
  authIssuer: 'https://login.example.org/realms/healthcare',
  authAudience: 'healthcare-etl-api',
  authJwksUrl: 'https://login.example.org/realms/healthcare/protocol/openid-connect/certs',
  databaseSubnetIds: 'subnet-0aaa1111,subnet-0bbb2222',
  databaseSecurityGroupIds: 'sg-0ccc3333',
} as const;
/** What `npm run deploy:local` passes as AUTH_JWT_SECRET when the LocalStack stage is printed. */
export const LOCALSTACK_JWT_SECRET = Buffer.alloc(32, 7).toString('base64');

/** CloudFormation values the tests expect verbatim (their ${…} are Fn::Sub's, not JavaScript's). */
export const ACCOUNT_ROOT_PRINCIPAL = {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
  AWS: { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root' },
};
// biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudFormation Fn::Sub placeholder
export const SQS_VIA_SERVICE = { 'Fn::Sub': 'sqs.${AWS::Region}.amazonaws.com' };

export type Properties = Readonly<Record<string, unknown>>;

export interface Resource {
  readonly Type: string;
  readonly Properties?: Properties;
  readonly DependsOn?: string | readonly string[];
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}

export interface Template {
  readonly Resources: Readonly<Record<string, Resource>>;
  readonly Outputs?: Readonly<Record<string, { readonly Value: unknown }>>;
}

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal?: unknown;
  readonly Action: string | readonly string[];
  readonly Resource?: unknown;
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** The Lambda functions of the template, by their serverless.yml name (`ingestQueue`). */
export interface LambdaFunction {
  readonly name: string;
  readonly logicalId: string;
  readonly properties: Properties;
}

let template: Template | undefined;

export function packageDir(): string {
  return inject('packageDir');
}

export function packagedTemplate(): Template {
  template ??= JSON.parse(
    readFileSync(join(packageDir(), 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as Template;
  return template;
}

/** `osls print --stage localstack`: the resolved configuration `npm run deploy:local` deploys. */
export function localStackConfiguration(): Readonly<Record<string, unknown>> {
  return JSON.parse(readFileSync(inject('localStackConfigurationFile'), 'utf8')) as Readonly<
    Record<string, unknown>
  >;
}

export function resource(logicalId: string): Resource {
  const found = packagedTemplate().Resources[logicalId];
  if (found === undefined) throw new Error(`the template has no resource ${logicalId}`);
  return found;
}

export function propertiesOf(logicalId: string): Properties {
  return resource(logicalId).Properties ?? {};
}

export function resourcesOfType(type: string): Array<[string, Resource]> {
  return Object.entries(packagedTemplate().Resources).filter(([, found]) => found.Type === type);
}

export function asList<T>(value: T | readonly T[] | undefined): readonly T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

/** The logical id a `Ref` or `Fn::GetAtt` names; undefined for anything else. */
export function referencedId(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { Ref: ref, 'Fn::GetAtt': getAtt } = value as { Ref?: unknown; 'Fn::GetAtt'?: unknown };
  if (typeof ref === 'string') return ref;
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  return undefined;
}

export function lambdaFunctions(): LambdaFunction[] {
  const prefix = `${SERVICE}-${STAGE}-`;
  return resourcesOfType('AWS::Lambda::Function').map(([logicalId, found]) => {
    const properties = found.Properties ?? {};
    const functionName = String(properties['FunctionName']);
    if (!functionName.startsWith(prefix)) {
      throw new Error(`${logicalId} is named ${functionName}, not ${prefix}…`);
    }
    return { name: functionName.slice(prefix.length), logicalId, properties };
  });
}

export function lambdaFunction(name: string): LambdaFunction {
  const found = lambdaFunctions().find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`the template has no function ${name}`);
  return found;
}

export function environmentOf(fn: LambdaFunction): Readonly<Record<string, unknown>> {
  const environment = fn.properties['Environment'] as
    | { Variables?: Readonly<Record<string, unknown>> }
    | undefined;
  return environment?.Variables ?? {};
}

/** Every statement of an IAM role's inline policies. */
export function statementsOfRole(roleLogicalId: string): PolicyStatement[] {
  const policies = (propertiesOf(roleLogicalId)['Policies'] ?? []) as ReadonlyArray<{
    readonly PolicyDocument: { readonly Statement: readonly PolicyStatement[] };
  }>;
  return policies.flatMap((policy) => policy.PolicyDocument.Statement);
}

/** The role a function runs as. */
export function roleOf(fn: LambdaFunction): string {
  const roleId = referencedId(fn.properties['Role']);
  if (roleId === undefined) throw new Error(`${fn.name} names no role of this stack`);
  return roleId;
}
