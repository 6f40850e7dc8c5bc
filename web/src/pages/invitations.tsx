// Administration: inviting people with a role, open invitations, revoking.
import { useState } from "react";
import { ApiError, api, appURL, roles, type CreatedInvitation, type Invitation, type Role } from "../api";
import { CopyField, ErrorAlert, Field, LoadMore, Page, SelectField, Skeleton, TableHead, Time, formatTime, toApiError, useSubmit } from "../components";
import { usePaged } from "../paged";

function invitationLink(inv: CreatedInvitation): string {
  if (inv.url !== "") return inv.url;
  return appURL(`/invite#token=${encodeURIComponent(inv.token)}`);
}

/** An invitation's state: used (accepted), expired, or open (the only one that can be revoked). */
function stateOf(inv: Invitation, now: number): "used" | "expired" | "open" {
  if (inv.acceptedAt !== undefined && inv.acceptedAt !== null) return "used";
  return Date.parse(inv.expiresAt) <= now ? "expired" : "open";
}

export default function InvitationsPage() {
  const list = usePaged(api.invitations);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("standard");
  const [created, setCreated] = useState<CreatedInvitation | null>(null);
  const [actionError, setActionError] = useState<ApiError | null>(null);
  const form = useSubmit(async () => {
    const inv = await api.invite({ email, role });
    setCreated(inv);
    setEmail("");
    await list.reload();
  });
  const revoke = async (inv: Invitation) => {
    setActionError(null);
    try {
      await api.revokeInvitation(inv.id);
      list.setItems((cur) => (cur ?? []).filter((x) => x.id !== inv.id));
      if (created?.id === inv.id) setCreated(null);
    } catch (e) {
      setActionError(toApiError(e));
    }
  };
  return (
    <Page title="Invitations">
      <section aria-labelledby="invite-h">
        <h2 id="invite-h">Invite someone</h2>
        <form onSubmit={form.onSubmit} className="inline-form">
          <ErrorAlert error={form.error} />
          <Field label="Email" type="email" required value={email} onChange={setEmail} autoComplete="off" />
          <SelectField label="Role" value={role} options={roles} onChange={setRole} />
          <button type="submit" className="primary" disabled={form.busy}>
            {form.busy ? "Inviting…" : "Create invitation"}
          </button>
        </form>
        {created !== null && (
          <div className="secret">
            <CopyField
              label={`Invitation link for ${created.email} (${created.role})`}
              value={invitationLink(created)}
              hint={`Send this link to them. It works once and expires ${formatTime(created.expiresAt)}.`}
            />
          </div>
        )}
      </section>
      <section aria-labelledby="pending-h">
        <h2 id="pending-h">Invitations</h2>
        <ErrorAlert error={actionError ?? list.error} />
        {list.items === null ? (
          <Skeleton label="Loading invitations" />
        ) : list.items.length === 0 ? (
          <p>No invitations.</p>
        ) : (
          <table className="data">
            <TableHead cols={["Email", "Role", "Status", "Expires"]} hidden="Actions" />
            <tbody>
              {list.items.map((inv) => {
                const state = stateOf(inv, Date.now());
                return (
                  <tr key={inv.id} data-invitation={inv.email} data-state={state}>
                    <th scope="row">{inv.email}</th>
                    <td>{inv.role}</td>
                    <td>
                      {state === "used" ? (
                        <>
                          used <Time iso={inv.acceptedAt ?? ""} />
                        </>
                      ) : state === "expired" ? (
                        <span className="tag warn">expired</span>
                      ) : (
                        "open"
                      )}
                    </td>
                    <td>{state === "used" ? "" : <Time iso={inv.expiresAt} />}</td>
                    <td className="actions">
                      {state === "open" && (
                        <button type="button" className="danger" onClick={() => void revoke(inv)} aria-label={`Revoke the invitation of ${inv.email}`}>
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
        <LoadMore hasMore={list.hasMore} loading={list.loading} more={list.more} />
      </section>
    </Page>
  );
}

