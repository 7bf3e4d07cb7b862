/**
 * What a run of the pipeline's figures print and are judged by: here, apart from report.ts,
 * which pipelineRun.ts and copyBaseline.ts use in turn.
 */
import type { PipelineFigures } from './pipelineRun.ts';
import { auditWriteCost, printRows, printStatements, runTargets, type Target } from './report.ts';

/** The targets of one benchmark run, at batches of `batchSize`. */
export function pipelineTargets(figures: PipelineFigures, batchSize: number): Target[] {
  return runTargets({
    records: figures.records,
    batchSize,
    constrainedRatio: figures.constrainedRatio,
    postgresCpuMs: {
      pipeline: figures.cpuMs.postgres,
      constrainedCopy: figures.constrainedCopy.cpuMs.postgres,
    },
    walBytes: { pipeline: figures.walBytes, copy: figures.copy.walBytes },
    nodeCpuMs: figures.cpuMs.node,
    maxKeyServiceCallsPerRun: figures.keyServiceCalls.maxPerRun,
    auditMacCallsPerRun: figures.keyServiceCalls.auditMac.perRun,
    peakRssBytes: figures.pipelinePeakRssBytes,
  });
}

/** The statements of the pipeline and of the constrained COPY, and the audit log's write cost. */
export function printPipelineStatements(figures: PipelineFigures): void {
  const auditRows = figures.stored.find(({ table }) => table === 'audit_log')?.rows ?? 0;
  printStatements('top statements while the pipeline ran', figures.statements);
  printStatements(
    'top statements while COPY into the real tables ran',
    figures.constrainedCopy.statements,
  );
  console.log('');
  printRows([
    [
      "audit log's writes (INSERT, chain, indexes), pipeline",
      auditWriteCost(figures.statements, auditRows, figures.records),
    ],
    [
      "audit log's writes, COPY into the real tables",
      auditWriteCost(figures.constrainedCopy.statements, auditRows, figures.records),
    ],
  ]);
}
