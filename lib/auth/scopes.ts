import { ConfigError } from '../errors.ts';

/**
 * SMART on FHIR scopes (`context/resource.permissions`), in both the v2 letter
 * form (`user/Patient.rs`) and the v1 word form (`user/Patient.read`).
 */
export const SCOPE_CONTEXTS = ['patient', 'user', 'system'] as const;
export type ScopeContext = (typeof SCOPE_CONTEXTS)[number];

/** SMART v2 permission letters, in the order the specification requires them. */
export const PERMISSIONS = ['c', 'r', 'u', 'd', 's'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface SmartScope {
  readonly context: ScopeContext;
  /** A FHIR resource type, or `*` for every type. */
  readonly resource: string;
  readonly permissions: ReadonlySet<Permission>;
}

const V1_PERMISSIONS: Readonly<Record<string, readonly Permission[]>> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': PERMISSIONS,
};

// A v2 scope narrowed by `?param=value` is left unparsed, so it never grants the whole resource.
const SCOPE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]{0,63})\.(\*|read|write|c?r?u?d?s?)$/;

function isContext(value: string): value is ScopeContext {
  return (SCOPE_CONTEXTS as readonly string[]).includes(value);
}

function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value);
}

function permissionsOf(text: string): readonly Permission[] {
  return V1_PERMISSIONS[text] ?? [...text].filter(isPermission);
}

/** One parsed scope, or `undefined` for anything else (`openid`, `launch`, a typo). */
export function parseScope(scope: string): SmartScope | undefined {
  const match = SCOPE.exec(scope);
  const [, context, resource, permissionText] = match ?? [];
  if (context === undefined || !isContext(context) || resource === undefined) return undefined;
  const permissions = permissionsOf(permissionText ?? '');
  if (permissions.length === 0) return undefined;
  return { context, resource, permissions: new Set(permissions) };
}

function covers(granted: SmartScope, required: SmartScope): boolean {
  if (granted.context !== required.context) return false;
  if (granted.resource !== '*' && granted.resource !== required.resource) return false;
  return [...required.permissions].every((permission) => granted.permissions.has(permission));
}

function requiredScope(required: string): SmartScope {
  const parsed = parseScope(required);
  // A required scope is written by us, so a typo is a programming error, not a denial.
  if (parsed === undefined) throw new ConfigError(`'${required}' is not a SMART scope`);
  return parsed;
}

/**
 * Whether the granted scopes satisfy `required`: the same context, the same
 * resource or `*`, and every permission letter required. Unparseable granted
 * scopes are ignored; an unparseable `required` throws a ConfigError.
 */
export function hasScope(granted: readonly string[], required: string): boolean {
  const wanted = requiredScope(required);
  return granted.some((scope) => {
    const parsed = parseScope(scope);
    return parsed !== undefined && covers(parsed, wanted);
  });
}

/** Whether the granted scopes satisfy at least one of `anyOf`. */
export function satisfiesAny(granted: readonly string[], anyOf: readonly string[]): boolean {
  const wanted = anyOf.map(requiredScope);
  const parsed = granted.map(parseScope).filter((scope) => scope !== undefined);
  return wanted.some((required) => parsed.some((scope) => covers(scope, required)));
}

/**
 * Whether the granted scopes let a token read (`r`) or search (`s`) resources of that type:
 * `user/Condition.rs`, `user/*.read`, `system/*.rs`; and, only for a token with a launch
 * context (`launchPatient`, its `patient` claim), `patient/Condition.rs`. What that patient's
 * context confines the token to is the access layer's to enforce (lib/patients/).
 */
export function canRead(
  granted: readonly string[],
  resourceType: string,
  permission: 'r' | 's',
  launchPatient?: string,
): boolean {
  const parsed = granted.map(parseScope).filter((scope) => scope !== undefined);
  return parsed.some(
    (scope) =>
      (scope.context !== 'patient' || launchPatient !== undefined) &&
      (scope.resource === '*' || scope.resource === resourceType) &&
      scope.permissions.has(permission),
  );
}
