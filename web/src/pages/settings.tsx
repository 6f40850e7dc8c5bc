// Administration: users and roles, invitations, the audit log.
import { useState } from "react";
import { ApiError, api, appURL, roles, type AuditEntry, type Invitation, type ResetLink, type Role, type User } from "../api";
import { CopyField, ErrorAlert, Field, Notice, Page, SelectField, Time, formatTime, toApiError, useSubmit } from "../components";
import { usePaged } from "../paged";
import { useSession, useUser } from "../session";

/** Admin pages check the role before asking the API, which refuses anyway. */
export function RequireAdmin({ children }: { children: React.ReactNode }) {
  const user = useUser();
  if (user.role !== "admin") {
    return (
      <Page title="Administrators only">
        <p>
          This page is for administrators. You are signed in with the <strong>{user.role}</strong> role.
        </p>
      </Page>
    );
  }
  return <>{children}</>;
}

function LoadMore({ hasMore, loading, more }: { hasMore: boolean; loading: boolean; more: () => Promise<void> }) {
  if (!hasMore) return null;
  return (
    <button type="button" onClick={() => void more()} disabled={loading}>
      {loading ? "Loading…" : "Load more"}
    </button>
  );
}

export function UsersPage() {
  const me = useUser();
  const { refresh } = useSession();
  const list = usePaged(api.users);
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<string | null>(null);
  const [resetLink, setResetLink] = useState<{ user: User; link: ResetLink } | null>(null);

  const act = async (what: () => Promise<void>) => {
    setError(null);
    setNotice(null);
    try {
      await what();
    } catch (e) {
      setError(toApiError(e));
    }
  };
  const replace = (u: User) => {
    list.setItems((cur) => (cur ?? []).map((x) => (x.id === u.id ? u : x)));
    // Changing your own role or state changes what this session may do.
    if (u.id === me.id) void refresh();
  };

  const changeRole = (u: User, role: Role) =>
    act(async () => {
      // The select is controlled by the stored role: it shows the new role only once the console accepts it.
      replace(await api.updateUser(u.id, { role }));
      setNotice(`${u.email} is now ${role}.`);
    });
  const toggleDisabled = (u: User) =>
    act(async () => {
      replace(await api.updateUser(u.id, { disabled: !u.disabled }));
      setNotice(`${u.email} is ${u.disabled ? "enabled" : "disabled"}.`);
    });
  const remove = (u: User) =>
    act(async () => {
      setConfirmDelete(null);
      await api.deleteUser(u.id);
      list.setItems((cur) => (cur ?? []).filter((x) => x.id !== u.id));
      setNotice(`${u.email} is deleted.`);
      if (u.id === me.id) void refresh();
    });
  const reset = (u: User) =>
    act(async () => {
      const link = await api.userResetLink(u.id);
      setResetLink({ user: u, link });
    });

  return (
    <Page title="Users">
      <ErrorAlert error={error ?? list.error} />
      {notice !== null && <Notice>{notice}</Notice>}
      {resetLink !== null && (
        <div className="secret">
          <CopyField
            label={`One-time password reset link for ${resetLink.user.email}`}
            value={resetLink.link.url !== "" ? resetLink.link.url : appURL(`/reset-password#token=${encodeURIComponent(resetLink.link.token)}`)}
            hint={`Send it to them privately. It works once and expires ${formatTime(resetLink.link.expiresAt)}.`}
          />
        </div>
      )}
      {list.items === null ? (
        <p aria-busy="true">Loading users…</p>
      ) : (
        <table className="data">
          <caption className="sr-only">Users of this console</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Status</th>
              <th scope="col">Last login</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.items.map((u) => (
              <tr key={u.id} data-user={u.email}>
                <th scope="row">
                  {u.name}
                  {u.id === me.id && <span className="tag">you</span>}
                </th>
                <td>{u.email}</td>
                <td>
                  <label className="sr-only" htmlFor={`role-${u.id}`}>
                    Role of {u.email}
                  </label>
                  <select id={`role-${u.id}`} value={u.role} onChange={(e) => void changeRole(u, e.target.value as Role)}>
                    {roles.map((r) => (
                      <option key={r} value={r}>
                        {r}
                      </option>
                    ))}
                  </select>
                </td>
                <td>{u.disabled ? <span className="tag warn">disabled</span> : "active"}</td>
                <td>
                  <Time iso={u.lastLoginAt} />
                </td>
                <td className="actions">
                  {confirmDelete === u.id ? (
                    <span role="group" aria-label={`Confirm deleting ${u.email}`}>
                      <button type="button" className="danger" onClick={() => void remove(u)}>
                        Delete {u.email}
                      </button>
                      <button type="button" onClick={() => setConfirmDelete(null)} autoFocus>
                        Cancel
                      </button>
                    </span>
                  ) : (
                    <>
                      <button type="button" onClick={() => void toggleDisabled(u)} aria-label={`${u.disabled ? "Enable" : "Disable"} ${u.email}`}>
                        {u.disabled ? "Enable" : "Disable"}
                      </button>
                      <button type="button" onClick={() => void reset(u)} aria-label={`Password reset link for ${u.email}`}>
                        Reset link
                      </button>
                      <button type="button" className="danger" onClick={() => setConfirmDelete(u.id)} aria-label={`Delete ${u.email}`}>
                        Delete
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <LoadMore hasMore={list.hasMore} loading={list.loading} more={list.more} />
    </Page>
  );
}

function invitationLink(inv: Invitation): string {
  if (inv.url !== undefined && inv.url !== "") return inv.url;
  return appURL(`/invite#token=${encodeURIComponent(inv.token ?? "")}`);
}

export function InvitationsPage() {
  const list = usePaged(api.invitations);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("standard");
  const [created, setCreated] = useState<Invitation | null>(null);
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
          <p aria-busy="true">Loading invitations…</p>
        ) : list.items.length === 0 ? (
          <p>No open invitations.</p>
        ) : (
          <table className="data">
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((inv) => (
                <tr key={inv.id} data-invitation={inv.email}>
                  <th scope="row">{inv.email}</th>
                  <td>{inv.role}</td>
                  <td>
                    <Time iso={inv.expiresAt} />
                  </td>
                  <td className="actions">
                    <button type="button" className="danger" onClick={() => void revoke(inv)} aria-label={`Revoke the invitation of ${inv.email}`}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <LoadMore hasMore={list.hasMore} loading={list.loading} more={list.more} />
      </section>
    </Page>
  );
}

function detailText(d: unknown): string {
  if (d === null || d === undefined || d === "") return "";
  if (typeof d === "string") return d;
  return JSON.stringify(d);
}

export function AuditPage() {
  const list = usePaged<AuditEntry>(api.audit);
  const [filter, setFilter] = useState("");
  const f = filter.trim().toLowerCase();
  const shown =
    list.items?.filter(
      (e) =>
        f === "" ||
        [e.actor, e.action, e.target, e.clientAddr, detailText(e.detail)].some((s) => (s ?? "").toLowerCase().includes(f)),
    ) ?? null;
  return (
    <Page
      title="Audit log"
      actions={
        <button type="button" onClick={() => void list.reload()} disabled={list.loading}>
          Refresh
        </button>
      }
    >
      <ErrorAlert error={list.error} />
      <div className="toolbar">
        <Field label="Filter loaded entries" type="search" value={filter} onChange={setFilter} placeholder="actor, action, target…" />
      </div>
      {shown === null ? (
        <p aria-busy="true">Loading the audit log…</p>
      ) : (
        <table className="data">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Client address</th>
              <th scope="col">Detail</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((e) => (
              <tr key={String(e.id)}>
                <td>
                  <Time iso={e.time} />
                </td>
                <td>{e.actor}</td>
                <td>
                  <code>{e.action}</code>
                </td>
                <td>{e.target}</td>
                <td>{e.clientAddr}</td>
                <td className="detail">{detailText(e.detail)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <LoadMore hasMore={list.hasMore} loading={list.loading} more={list.more} />
    </Page>
  );
}
