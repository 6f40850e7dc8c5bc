// The map of a large graph (more than a few hundred nodes: 1,000 hosts, or
// the groups of an aggregated view): a plain 2D canvas, no graph library.
// cytoscape spends seconds styling and caching a thousand elements in a
// browser without a GPU (bench/web.sh measured 4-6 s at 1,000 hosts); this
// draws the same picture in a few milliseconds per frame.
//
// Layout: a grid, the internet pseudo-nodes on the first row, then the
// nodes by name; a group's disc grows with the square root of its size;
// an expanded host's containers and processes in rings around it.
// Drawing: edges batched into one path, nodes batched per kind, names only
// where they are readable (pseudo-nodes, groups, the selection, and every
// node once zoomed in). Interaction: drag to pan, wheel to zoom around the
// pointer, click to select (the grid gives the cell under the pointer
// directly); the buttons zoom and fit from the keyboard. The table view
// lists the same nodes for keyboard and screen-reader users.
//
// Risk: a node is filled with the colour of its worst current finding and
// drawn in its kind's shape (maprisk.tsx, as the cytoscape map); zoomed in,
// its counts are written under its name. An attack path fades the rest.
import { useEffect, useRef } from "react";
import type { Graph, NodeRisk } from "../api";
import { kindShape, mapName, riskBadge, riskColour, riskLevel, riskRank } from "../maprisk";

export interface MapHop {
  id: string;
  kind: string;
  label: string;
}

const pseudo = new Set(["internet", "private"]);
const cell = 40;
const radius = 8;

export interface Laid {
  id: string;
  kind: string;
  label: string;
  name: string;
  count: number;
  risk?: NodeRisk | undefined;
  badge: string;
  fill: string;
  from?: string | undefined;
  x: number;
  y: number;
  r: number;
}

/** A laid-out map: the nodes with their positions, the grid's columns and rows, and the node in each grid cell (row * cols + col). */
export interface MapLayout {
  nodes: Laid[];
  cols: number;
  rows: number;
  index: Map<string, Laid>;
  cells: Map<number, Laid>;
}

/**
 * Lays the graph out on a grid: the internet pseudo-nodes above it, then
 * groups first, the riskiest, then by name, in reading order. An expanded
 * host's containers and processes are placed around it, ring by ring (the
 * eight cells next to it, then the sixteen next to those...): the host is
 * moved far enough from the grid's edges and the rows above for its rings
 * to fit, and the nodes after it fill the cells it skipped.
 */
export function layout(g: Graph, path: MapHop[]): MapLayout {
  const all = g.nodes.map((n) => ({
    id: n.id,
    kind: n.kind,
    label: mapName(n),
    name: n.label,
    count: n.count,
    risk: n.risk,
    badge: riskBadge(n.risk),
    fill: riskColour[riskLevel(n.risk)],
    from: n.attrs?.expandedFrom,
  }));
  const known = new Set(all.map((n) => n.id));
  for (const h of path) if (!known.has(h.id)) all.push({ id: h.id, kind: h.kind, label: h.label, name: h.label, count: 1, risk: undefined, badge: "", fill: riskColour.none, from: undefined });
  const ps = all.filter((n) => pseudo.has(n.kind));
  const sorted = all
    .filter((n) => !pseudo.has(n.kind) && n.from === undefined)
    .sort((a, b) => b.count - a.count || riskRank(b.risk) - riskRank(a.risk) || a.label.localeCompare(b.label));
  const kids = new Map<string, typeof all>();
  for (const n of all) if (n.from !== undefined && !pseudo.has(n.kind) && known.has(n.from)) kids.set(n.from, [...(kids.get(n.from) ?? []), n]);
  const placed = sorted.length + [...kids.values()].reduce((s, k) => s + k.length, 0);
  const maxCount = Math.max(1, ...all.map((n) => n.count));
  // Wide enough for the largest expansion's rings.
  const ringsOf = (k: number) => (k === 0 ? 0 : Math.ceil((Math.sqrt(k + 1) - 1) / 2));
  const widest = Math.max(0, ...[...kids.values()].map((k) => ringsOf(k.length)));
  const cols = Math.max(4, Math.ceil(Math.sqrt(placed * 1.6)), 2 * widest + 1);
  const nodes: Laid[] = [];
  const cells = new Map<number, Laid>();
  ps.forEach((n, i) => nodes.push({ ...n, x: ((cols - ps.length) / 2 + i + 0.5) * cell * 1.0, y: -1.5 * cell, r: 13 }));
  const put = (n: (typeof all)[number], row: number, col: number) => {
    const r = n.count > 1 ? radius + (cell / 2 - 2 - radius) * Math.sqrt(n.count / maxCount) : radius;
    const laid = { ...n, x: (col + 0.5) * cell, y: (row + 0.5) * cell, r };
    nodes.push(laid);
    cells.set(row * cols + col, laid);
  };
  let cursor = 0; // the first cell, in reading order, that may be free
  const nextFree = () => {
    while (cells.has(cursor)) cursor++;
    return cursor;
  };
  for (const n of sorted) {
    const ks = kids.get(n.id) ?? [];
    let at = nextFree();
    if (ks.length > 0) {
      // Room for the rings: R rows below the first free one, R columns from each side, every ring cell free.
      const R = ringsOf(ks.length);
      let row = Math.floor(at / cols) + R;
      let col = Math.max(R, at % cols);
      for (;;) {
        if (col + R >= cols) {
          row++;
          col = R;
          continue;
        }
        let free = true;
        for (let dr = -R; dr <= R && free; dr++) for (let dc = -R; dc <= R && free; dc++) free = !cells.has((row + dr) * cols + col + dc);
        if (free) break;
        col++;
      }
      at = row * cols + col;
    }
    const row = Math.floor(at / cols);
    const col = at % cols;
    put(n, row, col);
    // Ring by ring around the host, each ring from the cell above it, clockwise.
    let i = 0;
    for (let d = 1; i < ks.length; d++) {
      const ring: [number, number][] = [];
      for (let c = -d; c <= d; c++) ring.push([-d, c]);
      for (let r = -d + 1; r <= d; r++) ring.push([r, d]);
      for (let c = d - 1; c >= -d; c--) ring.push([d, c]);
      for (let r = d - 1; r > -d; r--) ring.push([r, -d]);
      for (const [dr, dc] of ring) {
        if (i >= ks.length) break;
        const rr = row + dr;
        const cc = col + dc;
        if (rr < 0 || cc < 0 || cc >= cols || cells.has(rr * cols + cc)) continue;
        const k = ks[i++];
        if (k !== undefined) put(k, rr, cc);
      }
    }
  }
  let rows = 0;
  for (const k of cells.keys()) rows = Math.max(rows, Math.floor(k / cols) + 1);
  return { nodes, cols, rows, index: new Map(nodes.map((n) => [n.id, n])), cells };
}

/** Adds a node's outline, in its kind's shape, to the current path. */
function outline(ctx: CanvasRenderingContext2D, kind: string, x: number, y: number, r: number) {
  const s = kindShape[kind] ?? "ellipse";
  if (s === "round-rectangle" || s === "barrel") {
    const k = r * 0.9;
    ctx.moveTo(x - k, y - k);
    ctx.lineTo(x + k, y - k);
    ctx.lineTo(x + k, y + k);
    ctx.lineTo(x - k, y + k);
    ctx.closePath();
  } else if (s === "hexagon") {
    for (let i = 0; i < 6; i++) {
      const a = (Math.PI / 3) * i + Math.PI / 6;
      if (i === 0) ctx.moveTo(x + r * Math.cos(a), y + r * Math.sin(a));
      else ctx.lineTo(x + r * Math.cos(a), y + r * Math.sin(a));
    }
    ctx.closePath();
  } else {
    ctx.moveTo(x + r, y);
    ctx.arc(x, y, r, 0, Math.PI * 2);
  }
}

export function BigMap({
  graph,
  path,
  selected,
  focused,
  onSelect,
  label,
}: {
  graph: Graph;
  path: MapHop[];
  selected: string | null;
  focused?: string | null | undefined;
  onSelect: (id: string) => void;
  label: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const view = useRef({ scale: 1, tx: 0, ty: 0 });
  const foc = useRef(focused ?? null);
  const centre = useRef<(id: string) => void>(() => {});
  const sel = useRef(selected);
  const select = useRef(onSelect);
  select.current = onSelect;
  const draw = useRef<() => void>(() => {});
  const fit = useRef<() => void>(() => {});

  useEffect(() => {
    const el = box.current;
    const cv = canvas.current;
    if (el === null || cv === null) return;
    el.removeAttribute("data-ready");
    const ctx = cv.getContext("2d");
    if (ctx === null) return;
    const { nodes, cols, rows, index, cells } = layout(graph, path);
    const onPath = new Set(path.map((h) => h.id));
    const edges = graph.edges.filter((e) => e.source !== e.target && index.has(e.source) && index.has(e.target));
    let frame = 0;

    const size = () => {
      cv.width = el.clientWidth;
      cv.height = el.clientHeight;
    };
    fit.current = () => {
      const w = cols * cell;
      const h = (rows + 2) * cell;
      const scale = Math.min(cv.width / w, cv.height / h, 2) * 0.95;
      view.current = { scale, tx: (cv.width - w * scale) / 2, ty: (cv.height - h * scale) / 2 + 2 * cell * scale };
    };
    const paint = () => {
      frame = 0;
      const { scale, tx, ty } = view.current;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, cv.width, cv.height);
      ctx.setTransform(scale, 0, 0, scale, tx, ty);
      // Visible world rectangle: only what is on screen is drawn.
      const x0 = -tx / scale - cell;
      const y0 = -ty / scale - cell;
      const x1 = (cv.width - tx) / scale + cell;
      const y1 = (cv.height - ty) / scale + cell;
      const visible = (n: Laid) => n.x >= x0 && n.x <= x1 && n.y >= y0 && n.y <= y1;
      const dim = onPath.size > 0;
      ctx.lineWidth = 1 / scale;
      ctx.strokeStyle = dim ? "rgba(120,134,150,0.1)" : "rgba(120,134,150,0.35)";
      ctx.beginPath();
      for (const e of edges) {
        const a = index.get(e.source);
        const b = index.get(e.target);
        if (a === undefined || b === undefined || (!visible(a) && !visible(b))) continue;
        ctx.moveTo(a.x, a.y);
        ctx.lineTo(b.x, b.y);
      }
      ctx.stroke();
      // The attack path's hops, in red, over everything else.
      if (path.length > 1) {
        ctx.strokeStyle = "#dc2626";
        ctx.lineWidth = 4 / scale;
        ctx.beginPath();
        path.forEach((h, i) => {
          const n = index.get(h.id);
          if (n === undefined) return;
          if (i === 0) ctx.moveTo(n.x, n.y);
          else ctx.lineTo(n.x, n.y);
        });
        ctx.stroke();
      }
      // Nodes batched by colour (their worst finding); off the attack path, faded.
      const byFill = new Map<string, Laid[]>();
      for (const n of nodes) {
        if (!visible(n) || pseudo.has(n.kind)) continue;
        const k = `${n.fill}|${dim && !onPath.has(n.id) ? "dim" : ""}`;
        const l = byFill.get(k) ?? [];
        l.push(n);
        byFill.set(k, l);
      }
      ctx.strokeStyle = "#334155";
      ctx.lineWidth = 1 / Math.max(scale, 0.5);
      for (const [k, l] of byFill) {
        const [fill, faded] = k.split("|");
        ctx.globalAlpha = faded === "dim" ? 0.25 : 1;
        ctx.fillStyle = fill ?? riskColour.none;
        ctx.beginPath();
        for (const n of l) outline(ctx, n.kind, n.x, n.y, n.r);
        ctx.fill();
        if (scale >= 0.6) ctx.stroke();
      }
      ctx.globalAlpha = 1;
      for (const n of nodes) {
        if (!pseudo.has(n.kind)) continue;
        ctx.fillStyle = "#fff";
        ctx.strokeStyle = n.kind === "internet" ? "#b91c1c" : "#64748b";
        ctx.lineWidth = 3 / Math.max(scale, 0.5);
        ctx.beginPath();
        ctx.moveTo(n.x, n.y - n.r);
        ctx.lineTo(n.x + n.r, n.y);
        ctx.lineTo(n.x, n.y + n.r);
        ctx.lineTo(n.x - n.r, n.y);
        ctx.closePath();
        ctx.fill();
        ctx.stroke();
      }
      const ring = (n: Laid, c: string) => {
        ctx.strokeStyle = c;
        ctx.lineWidth = 3 / Math.max(scale, 0.5);
        ctx.beginPath();
        ctx.arc(n.x, n.y, n.r + 3 / Math.max(scale, 0.5), 0, Math.PI * 2);
        ctx.stroke();
      };
      for (const id of onPath) {
        const n = index.get(id);
        if (n !== undefined) ring(n, "#dc2626");
      }
      const s = sel.current === null ? undefined : index.get(sel.current);
      if (s !== undefined) ring(s, "#f59e0b");
      const f = foc.current === null ? undefined : index.get(foc.current);
      if (f !== undefined) ring(f, "#0ea5e9");
      // Names: readable ones only (11 px on screen).
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.font = "11px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "top";
      ctx.fillStyle = "#1f2937";
      const all = scale >= 1.1;
      for (const n of nodes) {
        if (!visible(n)) continue;
        if (!all && !pseudo.has(n.kind) && n.count === 1 && n !== s && n !== f && !onPath.has(n.id)) continue;
        if (!all && n.count > 1 && n.r * scale < 10) continue;
        const text = n.label.length > 24 ? `${n.label.slice(0, 23)}…` : n.label;
        const y = (n.y + n.r) * scale + ty + 3;
        ctx.fillText(text, n.x * scale + tx, y);
        // The counts under the name, in the colour of the worst.
        if (n.badge !== "") {
          ctx.fillStyle = n.fill;
          ctx.fillText(n.badge, n.x * scale + tx, y + 12);
          ctx.fillStyle = "#1f2937";
        }
      }
    };
    draw.current = () => {
      if (frame === 0) frame = requestAnimationFrame(paint);
    };
    // The keyboard list's node: brought into view when off screen.
    centre.current = (id: string) => {
      const n = index.get(id);
      if (n === undefined) return;
      const v = view.current;
      const px = n.x * v.scale + v.tx;
      const py = n.y * v.scale + v.ty;
      if (px < 0 || py < 0 || px > cv.width || py > cv.height) view.current = { ...v, tx: cv.width / 2 - n.x * v.scale, ty: cv.height / 2 - n.y * v.scale };
    };

    // The node under a point: the grid cell, or a pseudo-node on the top row.
    const hit = (px: number, py: number): Laid | undefined => {
      const { scale, tx, ty } = view.current;
      const x = (px - tx) / scale;
      const y = (py - ty) / scale;
      let best: Laid | undefined;
      let bestD = Infinity;
      const consider = (n: Laid | undefined) => {
        if (n === undefined) return;
        const d = Math.hypot(n.x - x, n.y - y);
        if (d <= Math.max(n.r, 6 / scale) + 2 && d < bestD) {
          best = n;
          bestD = d;
        }
      };
      for (const n of nodes) if (pseudo.has(n.kind)) consider(n);
      const col = Math.floor(x / cell);
      const row = Math.floor(y / cell);
      if (col >= 0 && col < cols && row >= 0) consider(cells.get(row * cols + col));
      return best;
    };

    let drag: { x: number; y: number; tx: number; ty: number; moved: boolean } | null = null;
    const down = (e: PointerEvent) => {
      drag = { x: e.clientX, y: e.clientY, tx: view.current.tx, ty: view.current.ty, moved: false };
      cv.setPointerCapture(e.pointerId);
    };
    const move = (e: PointerEvent) => {
      if (drag === null) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      view.current.tx = drag.tx + dx;
      view.current.ty = drag.ty + dy;
      draw.current();
    };
    const up = (e: PointerEvent) => {
      const d = drag;
      drag = null;
      if (d === null || d.moved) return;
      const r = cv.getBoundingClientRect();
      const n = hit(e.clientX - r.left, e.clientY - r.top);
      if (n !== undefined) select.current(n.id);
    };
    const wheel = (e: WheelEvent) => {
      e.preventDefault();
      const r = cv.getBoundingClientRect();
      const px = e.clientX - r.left;
      const py = e.clientY - r.top;
      const v = view.current;
      const k = Math.min(8, Math.max(0.02, v.scale * Math.exp(-e.deltaY * 0.0015))) / v.scale;
      view.current = { scale: v.scale * k, tx: px - (px - v.tx) * k, ty: py - (py - v.ty) * k };
      draw.current();
    };
    const resize = new ResizeObserver(() => {
      size();
      draw.current();
    });
    cv.addEventListener("pointerdown", down);
    cv.addEventListener("pointermove", move);
    cv.addEventListener("pointerup", up);
    cv.addEventListener("wheel", wheel, { passive: false });
    size();
    fit.current();
    // An attack path: the view is zoomed to its hops.
    const hops = nodes.filter((n) => onPath.has(n.id));
    if (hops.length > 0) {
      const xs = hops.map((n) => n.x);
      const ys = hops.map((n) => n.y);
      const [x0, x1, y0, y1] = [Math.min(...xs) - cell, Math.max(...xs) + cell, Math.min(...ys) - cell, Math.max(...ys) + cell];
      const scale = Math.min(cv.width / (x1 - x0), cv.height / (y1 - y0), 2) * 0.95;
      view.current = { scale, tx: cv.width / 2 - ((x0 + x1) / 2) * scale, ty: cv.height / 2 - ((y0 + y1) / 2) * scale };
      el.dataset.onpath = hops.map((n) => n.id).join(",");
      el.dataset.dimmed = String(nodes.length - hops.length);
    } else {
      delete el.dataset.onpath;
      el.dataset.dimmed = "0";
    }
    paint();
    resize.observe(el);
    // Drawn: one node's position for the tests, then the mark.
    const probe =
      nodes.filter((n) => onPath.has(n.id) && !pseudo.has(n.kind)).at(-1) ??
      nodes.find((n) => !pseudo.has(n.kind) && n.count === 1) ??
      nodes.find((n) => !pseudo.has(n.kind)) ??
      nodes[0];
    if (probe !== undefined) {
      const { scale, tx, ty } = view.current;
      el.dataset.probeId = probe.id;
      el.dataset.probeLabel = probe.name;
      el.dataset.probeX = String(Math.round(probe.x * scale + tx));
      el.dataset.probeY = String(Math.round(probe.y * scale + ty));
    }
    // The riskiest node and its fill, for the tests.
    let risky: Laid | undefined;
    for (const n of nodes) if (n.risk !== undefined && (risky === undefined || riskRank(n.risk) > riskRank(risky.risk))) risky = n;
    if (risky !== undefined) {
      const { scale, tx, ty } = view.current;
      el.dataset.riskyId = risky.id;
      el.dataset.riskyColour = risky.fill;
      el.dataset.riskyX = String(Math.round(risky.x * scale + tx));
      el.dataset.riskyY = String(Math.round(risky.y * scale + ty));
    }
    el.dataset.ready = "true";
    performance.mark("riskmap:map-drawn", { detail: { nodes: graph.nodes.length, edges: graph.edges.length, renderer: "canvas" } });
    return () => {
      if (frame !== 0) cancelAnimationFrame(frame);
      resize.disconnect();
      cv.removeEventListener("pointerdown", down);
      cv.removeEventListener("pointermove", move);
      cv.removeEventListener("pointerup", up);
      cv.removeEventListener("wheel", wheel);
    };
  }, [graph, path]);

  useEffect(() => {
    sel.current = selected;
    draw.current();
  }, [selected]);

  useEffect(() => {
    foc.current = focused ?? null;
    if (focused !== null && focused !== undefined) centre.current(focused);
    draw.current();
  }, [focused]);

  const zoom = (k: number) => {
    const cv = canvas.current;
    if (cv === null) return;
    const v = view.current;
    const px = cv.width / 2;
    const py = cv.height / 2;
    view.current = { scale: v.scale * k, tx: px - (px - v.tx) * k, ty: py - (py - v.ty) * k };
    draw.current();
  };

  return (
    <div className="bigmap">
      <div
        ref={box}
        className="canvas"
        role="img"
        aria-label={label}
        data-nodes={graph.nodes.length}
        data-renderer="canvas"
        data-path={path.map((h) => h.id).join(",")}
      >
        <canvas ref={canvas} />
      </div>
      <div className="map-tools" role="group" aria-label="Map zoom">
        <button type="button" onClick={() => zoom(1.5)} aria-label="Zoom in">
          +
        </button>
        <button type="button" onClick={() => zoom(1 / 1.5)} aria-label="Zoom out">
          −
        </button>
        <button
          type="button"
          onClick={() => {
            fit.current();
            draw.current();
          }}
        >
          Fit
        </button>
      </div>
    </div>
  );
}
