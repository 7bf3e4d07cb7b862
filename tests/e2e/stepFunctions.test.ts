import {
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { describe, expect, inject, it } from 'vitest';
import { loadIngestDefinition } from '../../local/ingestDefinition.ts';
import { ingest, token, waitForRun } from './api.ts';

const CANARY = {
  mrn: 'MRN-SFN-CANARY-3391',
  name: 'Qwvx Sfncanary',
  ssn: '912-34-5678',
  birthDate: '1969-07-20',
};

describe("the stack's Step Functions endpoint, through @aws-sdk/client-sfn", () => {
  it('lists and describes the ingest state machine, whose definition is statemachine/ingest.asl.json', async () => {
    // Prepare
    const client = new SFNClient({
      endpoint: inject('stepFunctionsEndpoint'),
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const stateMachineArn = inject('stateMachineArn');

    // Act
    const { stateMachines } = await client.send(new ListStateMachinesCommand({}));
    const described = await client.send(new DescribeStateMachineCommand({ stateMachineArn }));

    // Assess
    expect(stateMachines?.map((machine) => machine.stateMachineArn)).toEqual([stateMachineArn]);
    expect(described).toMatchObject({
      name: 'healthcare-etl-local-ingest',
      status: 'ACTIVE',
      type: 'STANDARD',
    });
    expect(JSON.parse(described.definition ?? '{}')).toStrictEqual(loadIngestDefinition());
  });

  it('shows the run as an execution named after it, whose history holds ids and counts only', async () => {
    // Prepare
    const client = new SFNClient({
      endpoint: inject('stepFunctionsEndpoint'),
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const writer = await token(['system/Patient.c']);
    const accepted = await ingest(
      [{ resourceType: 'Patient', ...CANARY, gender: 'other', consent: { data_sharing: true } }],
      writer,
    );
    const runId: string = accepted.json.runId;
    await waitForRun(runId, writer);
    const executionArn = `${inject('stateMachineArn').replace(':stateMachine:', ':execution:')}:${runId}`;

    // Act: the run row says succeeded once Load commits; the execution ends after Publish
    let execution = await client.send(new DescribeExecutionCommand({ executionArn }));
    for (let polls = 0; execution.status === 'RUNNING' && polls < 200; polls += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      execution = await client.send(new DescribeExecutionCommand({ executionArn }));
    }
    const listed = await client.send(
      new ListExecutionsCommand({ stateMachineArn: inject('stateMachineArn') }),
    );
    const history = await client.send(new GetExecutionHistoryCommand({ executionArn }));

    // Assess
    expect(execution).toMatchObject({
      name: runId,
      status: 'SUCCEEDED',
      input: JSON.stringify({ runId }),
    });
    expect(JSON.parse(execution.output ?? '{}')).toMatchObject({ runId, status: 'succeeded' });
    expect(listed.executions?.map((item) => item.name)).toContain(runId);
    const entered = (history.events ?? [])
      .filter((event) => event.type === 'TaskStateEntered')
      .map((event) => event.stateEnteredEventDetails?.name);
    expect(entered).toEqual([
      'Extract',
      'Validate',
      'ConsentCheck',
      'Transform',
      'Load',
      'Publish',
    ]);
    const everything = JSON.stringify({ execution, history });
    for (const value of Object.values(CANARY)) expect(everything).not.toContain(value);
  });
});
