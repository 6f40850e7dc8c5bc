// Honest coverage: what a scan could not judge. A scan lists the ecosystems
// of its inventory (a distribution release such as "Debian:12", a language
// such as "PyPI") the knowledge base held no records for; their packages
// found nothing because nothing is known of them, not because they are
// clean. Shown on a scan's details and on a node's panel on the map.
import { useEffect, useState } from "react";
import { Link } from "react-router";
import { api, type Scan, type Uncovered } from "./api";
import { Time } from "./components";
import { useUser } from "./session";
import { formatNumber } from "./format";

/** "Debian:12" → "Debian 12", "Alpine:v3.19" → "Alpine v3.19"; a language ecosystem as it is. */
export function ecosystemName(eco: string): string {
  return eco.replace(":", " ");
}

/** The sentence for one uncovered ecosystem: "3 packages of Debian 12 were not judged: …". */
export function uncoveredSentence(u: Uncovered): string {
  const name = ecosystemName(u.ecosystem);
  const n = u.packages === 1 ? "1 package" : `${formatNumber(u.packages)} packages`;
  return `${n} of ${name} ${u.packages === 1 ? "was" : "were"} not judged: the knowledge base holds no records for ${name}.`;
}

/** A warning per ecosystem the scan could not judge; nothing when it judged everything. */
export function UncoveredBanner({ uncovered }: { uncovered: Uncovered[] | null | undefined }) {
  const user = useUser();
  const list = uncovered ?? [];
  if (list.length === 0) return null;
  return (
    <div className="alert warn" role="note" aria-label="Packages not judged" data-uncovered={list.map((u) => u.ecosystem).join(",")}>
      {list.map((u) => (
        <p key={u.ecosystem} data-ecosystem={u.ecosystem}>
          <strong>{uncoveredSentence(u)}</strong>
        </p>
      ))}
      <p>
        No findings there does not mean no vulnerabilities.{" "}
        {user.role === "admin" ? (
          <>
            <Link to="/settings/system">Feeds and diagnosis</Link> says which feed to update or import.
          </>
        ) : (
          "An administrator can add the feed that covers it."
        )}
      </p>
    </div>
  );
}

/** A node's latest complete scan: when it ran, its findings, and what it could not judge. */
export function NodeLastScan({ nodeId }: { nodeId: string }) {
  const [scan, setScan] = useState<Scan | null | undefined>(undefined);
  useEffect(() => {
    let live = true;
    setScan(undefined);
    api
      .scans({ nodeId, status: "complete", limit: 1 })
      .then((p) => live && setScan(p.items[0] ?? null))
      .catch(() => live && setScan(null)); // the panel's facts stand without it
    return () => {
      live = false;
    };
  }, [nodeId]);
  if (scan === undefined || scan === null) return null;
  return (
    <div data-last-scan={scan.id}>
      <p>
        Last complete scan <Time iso={scan.finishedAt ?? scan.createdAt} />:{" "}
        <Link to={`/vulnerabilities?scanId=${encodeURIComponent(scan.id)}`}>
          {scan.findings === 1 ? "1 finding" : `${scan.findings} findings`}
        </Link>
        .
      </p>
      <UncoveredBanner uncovered={scan.uncovered} />
    </div>
  );
}
