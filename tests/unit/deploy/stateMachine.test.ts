import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TASK_STATES } from '../../../lib/workflow/stageHandlers.ts';
import {
  propertiesOf,
  referencedId,
  resource,
  resourcesOfType,
  SERVICE,
  STAGE,
} from './packagedStack.ts';

const ASL_FILE = new URL('../../../statemachine/ingest.asl.json', import.meta.url);

/** The Lambda function name a Task state runs, as local/start.ts names it for the embedded stack. */
function stageFunctionName(state: string): string {
  return `${SERVICE}-${STAGE}-${state.charAt(0).toLowerCase()}${state.slice(1)}`;
}

/** Replaces each `${Name}` with an ARN built from the function it is bound to. */
function bind(definition: string, functionNames: ReadonlyMap<string, string>): string {
  return definition.replace(/\$\{([A-Za-z0-9]+)\}/g, (placeholder, name: string) => {
    const functionName = functionNames.get(name);
    if (functionName === undefined) throw new Error(`${placeholder} is not bound`);
    return `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`;
  });
}

/** DefinitionSubstitutions as placeholder name → the FunctionName of the function it names. */
function boundFunctionNames(): Map<string, string> {
  const substitutions = (propertiesOf('IngestStateMachine')['DefinitionSubstitutions'] ??
    {}) as Readonly<Record<string, unknown>>;
  return new Map(
    Object.entries(substitutions).map(([name, value]) => {
      const target = referencedId(value);
      expect(value).toEqual({ 'Fn::GetAtt': [target, 'Arn'] });
      const functionResource = resource(String(target));
      expect(functionResource.Type).toBe('AWS::Lambda::Function');
      return [name, String(functionResource.Properties?.['FunctionName'])];
    }),
  );
}

describe('the ingest state machine in the packaged template', () => {
  it('is the only state machine, a Standard workflow run by its own role', () => {
    // Act
    const machines = resourcesOfType('AWS::StepFunctions::StateMachine');
    const properties = propertiesOf('IngestStateMachine');

    // Assess
    expect(machines.map(([logicalId]) => logicalId)).toEqual(['IngestStateMachine']);
    expect(properties['StateMachineType']).toBe('STANDARD');
    expect(properties['StateMachineName']).toBe(`${SERVICE}-${STAGE}-ingest`);
    expect(properties['RoleArn']).toEqual({ 'Fn::GetAtt': ['IngestStateMachineRole', 'Arn'] });
  });

  it('logs to its own log group without execution data (no state input or output)', () => {
    // Act
    const logging = propertiesOf('IngestStateMachine')['LoggingConfiguration'];

    // Assess
    expect(logging).toEqual({
      Level: 'ALL',
      IncludeExecutionData: false,
      Destinations: [
        {
          CloudWatchLogsLogGroup: {
            LogGroupArn: { 'Fn::GetAtt': ['IngestStateMachineLogGroup', 'Arn'] },
          },
        },
      ],
    });
    expect(resource('IngestStateMachineLogGroup').Type).toBe('AWS::Logs::LogGroup');
  });

  it('is traced with X-Ray', () => {
    // Assess
    expect(propertiesOf('IngestStateMachine')['TracingConfiguration']).toEqual({ Enabled: true });
  });

  it.each(TASK_STATES)(
    'binds the %s Task to the stage function the embedded stack invokes for it',
    (state) => {
      // Act
      const bound = boundFunctionNames();

      // Assess
      expect(bound.get(`${state}FunctionArn`)).toBe(stageFunctionName(state));
    },
  );

  it('deploys statemachine/ingest.asl.json as it is, apart from the resolved ARNs', () => {
    // Prepare
    const file = readFileSync(ASL_FILE, 'utf8');
    const deployed = propertiesOf('IngestStateMachine')['DefinitionString'];
    const functionNames = boundFunctionNames();

    // Act
    const deployedDefinition = JSON.parse(bind(String(deployed), functionNames)) as unknown;
    const fileDefinition = JSON.parse(bind(file, functionNames)) as unknown;

    // Assess
    expect(typeof deployed).toBe('string');
    expect(functionNames.size).toBe(TASK_STATES.length);
    // Same states, fields, values and key order: only the whitespace of the text may differ.
    expect(JSON.stringify(deployedDefinition)).toBe(JSON.stringify(fileDefinition));
  });
});
