import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  boxWidth,
  layOut,
  NODE_MIN_WIDTH,
  NODE_PADDING_X,
  type PlacedNode,
} from '../../../console/graphLayout.ts';
import { type AslDefinition, graphOf } from '../../../console/stateMachineGraph.ts';

const graph = graphOf(
  JSON.parse(
    readFileSync(new URL('../../../statemachine/ingest.asl.json', import.meta.url), 'utf8'),
  ) as AslDefinition,
);

function edgesOf(node: PlacedNode): { left: number; right: number } {
  return { left: node.x - node.width / 2, right: node.x + node.width / 2 };
}

describe('boxWidth', () => {
  it.each([
    ['no text', [], NODE_MIN_WIDTH],
    ['short lines', [60, 120.4], NODE_MIN_WIDTH],
    [
      'a line as wide as the narrowest box’s inside',
      [NODE_MIN_WIDTH - 2 * NODE_PADDING_X],
      NODE_MIN_WIDTH,
    ],
    ['a long line of counts', [40, 263.2], 264 + 2 * NODE_PADDING_X],
  ])('fits %s inside the box with its padding each side', (_, lineWidths, width) => {
    // Act
    const fitted = boxWidth(lineWidths);

    // Assess
    expect(fitted).toBe(width);
    expect(fitted - 2 * NODE_PADDING_X).toBeGreaterThanOrEqual(Math.max(0, ...lineWidths));
  });
});

describe('layOut', () => {
  it('places every state, the main path top to bottom, and routes every forward edge', () => {
    // Act
    const layout = layOut(graph, () => NODE_MIN_WIDTH);
    const y = (id: string) => layout.nodes.get(id)?.y ?? Number.NaN;

    // Assess
    expect(layout.nodes.size).toBe(graph.nodes.length);
    expect(y('Extract')).toBeLessThan(y('Validate'));
    expect(y('Load')).toBeLessThan(y('Publish'));
    expect(y('Publish')).toBeLessThan(y('RunSucceeded'));
    expect(layout.edges.every((edge) => edge.points.length >= 2)).toBe(true);
    expect(layout.edges.some((edge) => edge.kind === 'retry')).toBe(false);
  });

  it('gives each state the width asked for, inside the drawing, no box overlapping another', () => {
    // Prepare
    const wide = new Map([
      ['Validate', boxWidth([320])],
      ['MarkFailed', boxWidth([280])],
    ]);

    // Act
    const layout = layOut(graph, (id) => wide.get(id) ?? NODE_MIN_WIDTH);
    const placed = [...layout.nodes.values()];

    // Assess
    expect(layout.nodes.get('Validate')?.width).toBe(320 + 2 * NODE_PADDING_X);
    expect(layout.nodes.get('Extract')?.width).toBe(NODE_MIN_WIDTH);
    for (const node of placed) {
      expect(edgesOf(node).left, node.id).toBeGreaterThanOrEqual(0);
      expect(edgesOf(node).right, node.id).toBeLessThanOrEqual(layout.width);
    }
    for (const [index, node] of placed.entries()) {
      for (const other of placed.slice(index + 1)) {
        const apartVertically = Math.abs(node.y - other.y) >= (node.height + other.height) / 2;
        const apartHorizontally =
          edgesOf(node).right <= edgesOf(other).left || edgesOf(other).right <= edgesOf(node).left;
        expect(apartVertically || apartHorizontally, `${node.id} and ${other.id}`).toBe(true);
      }
    }
  });
});
