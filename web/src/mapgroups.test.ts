import { describe, expect, it } from "vitest";
import type { GraphNode } from "./api";
import { drillTarget, innerGrouping, membersParam, parseMembers } from "./mapgroups";

const group = (groupBy: string, key: string, label: string, id = `group-${key}`): GraphNode => ({ id, kind: "group", label, group: key, count: 3, attrs: { groupBy, memberKind: "host" } });

describe("drilling into the map's groups", () => {
  it("opens cloud and region groups like cluster and namespace groups, round-tripping the URL", () => {
    const cases: [GraphNode, string][] = [
      [group("cloud", "cloud:aws", "aws"), "cloud:aws"],
      [group("region", "region:aws/eu-west-1", "aws/eu-west-1"), "region:aws/eu-west-1"],
      [group("cluster", "cluster-1", "prod"), "cluster:cluster-1"],
      [group("namespace", "namespace-x", "shop"), "namespace:namespace-x"],
      [group("host", "host-a", "web-1"), "host:host-a"],
    ];
    for (const [n, param] of cases) {
      const m = drillTarget(n);
      expect(m, n.id).not.toBeNull();
      if (m === null) continue;
      expect(membersParam(m)).toBe(param);
      expect(parseMembers(param, n.label)).toEqual(m);
    }
    expect(drillTarget(group("cloud", "cloud:aws", "aws"))).toEqual({ by: "cloud", id: "aws", label: "aws" });
  });

  it("does not drill into other, no-cloud or plain nodes", () => {
    expect(drillTarget(group("cloud", "none:host", "no cloud"))).toBeNull();
    expect(drillTarget(group("region", "region:aws/x", "other", "group-other"))).toBeNull();
    expect(drillTarget({ id: "host-a", kind: "host", label: "a", count: 1, group: "cloud:aws" })).toBeNull();
    expect(parseMembers("bogus:x", null)).toBeNull();
    expect(parseMembers("", null)).toBeNull();
  });

  it("groups a cloud's nodes by region, a region's as the view does", () => {
    const cloud = { by: "cloud" as const, id: "aws", label: "aws" };
    const region = { by: "region" as const, id: "aws/eu-west-1", label: "aws/eu-west-1" };
    expect(innerGrouping("cloud", cloud)).toBe("region");
    expect(innerGrouping("cloud", region)).toBe("auto");
    expect(innerGrouping("region", region)).toBe("auto");
    expect(innerGrouping("cluster", cloud)).toBe("cluster");
    expect(innerGrouping("cloud", null)).toBe("cloud");
  });
});
