/**
 * Positions for the state machine's graph, laid out by dagre (layered, top to bottom). Pure:
 * the page draws the result as SVG.
 */
import { type EdgeLabel, Graph, layout } from '@dagrejs/dagre';
import { forwardEdges, type GraphEdge, type StateMachineGraph } from './stateMachineGraph.ts';

export const NODE_WIDTH = 200;
export const NODE_HEIGHT = 52;

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface PlacedNode {
  readonly id: string;
  /** The node's centre. */
  readonly x: number;
  readonly y: number;
}

export interface PlacedEdge extends GraphEdge {
  readonly points: readonly Point[];
}

export interface GraphLayout {
  readonly width: number;
  readonly height: number;
  readonly nodes: ReadonlyMap<string, PlacedNode>;
  /** The forward edges; retries are drawn on their state, not routed. */
  readonly edges: readonly PlacedEdge[];
}

export function layOut(graph: StateMachineGraph): GraphLayout {
  const g = new Graph({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 36, ranksep: 44, edgesep: 16, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) g.setNode(node.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  const edges = forwardEdges(graph);
  edges.forEach((edge, index) => {
    // Catch edges give way to the main path: it stays a straight column.
    g.setEdge(edge.from, edge.to, { weight: edge.kind === 'next' ? 4 : 1 }, `e${index}`);
  });
  layout(g);
  const nodes = new Map<string, PlacedNode>(
    graph.nodes.map((node) => {
      const placed = g.node(node.id);
      return [node.id, { id: node.id, x: placed.x, y: placed.y }];
    }),
  );
  const placedEdges = edges.map((edge, index) => {
    const routed: EdgeLabel = g.edge(edge.from, edge.to, `e${index}`);
    return {
      ...edge,
      points: (routed.points ?? []).map((point: Point) => ({ x: point.x, y: point.y })),
    };
  });
  const label = g.graph();
  return { width: label.width ?? 0, height: label.height ?? 0, nodes, edges: placedEdges };
}
