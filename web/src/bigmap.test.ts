import { describe, expect, it } from "vitest";
import type { Graph, GraphNode } from "./api";
import { layout } from "./pages/bigmap";

const host = (i: number): GraphNode => ({ id: `host-${String(i).padStart(3, "0")}`, kind: "host", label: `h${String(i).padStart(3, "0")}`, count: 1 });
const child = (h: string, i: number): GraphNode => ({ id: `${h}-p${i}`, kind: "process", label: `${h} p${i}`, count: 1, attrs: { expandedFrom: h } });

/** The grid cell (col, row) of a laid-out node. */
function cellOf(l: ReturnType<typeof layout>, id: string): [number, number] {
  const n = l.index.get(id);
  if (n === undefined) throw new Error(`${id} not laid out`);
  return [Math.floor(n.x / 40), Math.floor(n.y / 40)];
}

describe("bigmap layout", () => {
  it("places an expanded host's members around it, not after it", () => {
    const hosts = Array.from({ length: 60 }, (_, i) => host(i));
    const expandedHost = "host-030";
    const kids = Array.from({ length: 12 }, (_, i) => child(expandedHost, i));
    const g: Graph = { nodes: [...hosts, ...kids], edges: [], aggregated: false, total: 72 };
    const l = layout(g, []);
    const [hc, hr] = cellOf(l, expandedHost);
    // 12 members need two rings: every member within 2 cells of the host, on every side of it.
    const sides = new Set<string>();
    for (const k of kids) {
      const [c, r] = cellOf(l, k.id);
      expect(Math.max(Math.abs(c - hc), Math.abs(r - hr)), `${k.id} at ${c},${r}; host at ${hc},${hr}`).toBeLessThanOrEqual(2);
      sides.add(`${Math.sign(c - hc)},${Math.sign(r - hr)}`);
    }
    // The first ring surrounds it: above, below, left and right.
    for (const s of ["0,-1", "0,1", "-1,0", "1,0"]) expect(sides).toContain(s);
    // One node per cell, and every node reachable by the hit test's cell map.
    expect(l.cells.size).toBe(72);
    for (const n of l.nodes) expect(l.cells.get(Math.floor(n.y / 40) * l.cols + Math.floor(n.x / 40))?.id).toBe(n.id);
    // The other hosts still come in name order, filling the cells the expansion skipped.
    const order = hosts.filter((h) => h.id !== expandedHost).map((h) => cellOf(l, h.id)).map(([c, r]) => r * l.cols + c);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(l.rows).toBeLessThanOrEqual(Math.ceil(72 / l.cols) + 4);
  });

  it("lays out a graph without expansions in reading order", () => {
    const g: Graph = { nodes: Array.from({ length: 10 }, (_, i) => host(i)), edges: [], aggregated: false, total: 10 };
    const l = layout(g, []);
    expect(l.nodes.map((n) => cellOf(l, n.id)[1] * l.cols + cellOf(l, n.id)[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
