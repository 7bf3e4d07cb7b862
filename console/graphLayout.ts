/**
 * Positions for the state machine's graph, laid out by dagre (layered, top to bottom). Pure:
 * the page measures each box's text and draws the result as SVG.
 */
import { type EdgeLabel, Graph, layout } from '@dagrejs/dagre';
import { forwardEdges, type GraphEdge, type StateMachineGraph } from './stateMachineGraph.ts';

/** The narrowest box, so short states keep one width and the main path reads as a column. */
export const NODE_MIN_WIDTH = 200;
export const NODE_HEIGHT = 52;
/** Room between a box's edge and its longest line, each side. */
export const NODE_PADDING_X = 12;

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface PlacedNode {
  readonly id: string;
  /** The node's centre. */
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
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

/** The width of a box whose lines of text measure `lineWidths` pixels: the longest fits inside. */
export function boxWidth(lineWidths: readonly number[]): number {
  return Math.max(NODE_MIN_WIDTH, Math.ceil(Math.max(0, ...lineWidths)) + 2 * NODE_PADDING_X);
}

/** `widthOf` gives each state's box width (boxWidth of its measured text); dagre places the boxes. */
export function layOut(
  graph: StateMachineGraph,
  widthOf: (stateId: string) => number,
): GraphLayout {
  const g = new Graph({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 36, ranksep: 44, edgesep: 16, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of graph.nodes) {
    g.setNode(node.id, { width: widthOf(node.id), height: NODE_HEIGHT });
  }
  const edges = forwardEdges(graph);
  edges.forEach((edge, index) => {
    // Catch edges give way to the main path: it stays a straight column.
    g.setEdge(edge.from, edge.to, { weight: edge.kind === 'next' ? 4 : 1 }, `e${index}`);
  });
  layout(g);
  const nodes = new Map<string, PlacedNode>(
    graph.nodes.map((node) => {
      const placed = g.node(node.id);
      return [
        node.id,
        { id: node.id, x: placed.x, y: placed.y, width: placed.width, height: placed.height },
      ];
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
