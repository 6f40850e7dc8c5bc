// Administration: users, their roles and state, password reset links.
import { useState } from "react";
import { ApiError, api, appURL, roles, type ResetLink, type Role, type User } from "../api";
import { CopyField, ErrorAlert, LoadMore, Notice, Page, Skeleton, TableHead, Time, formatTime, toApiError } from "../components";
import { usePaged } from "../paged";
import { useSession, useUser } from "../session";

export default function UsersPage() {
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
        <Skeleton label="Loading users" />
      ) : (
        <table className="data">
          <caption className="sr-only">Users of this console</caption>
          <TableHead cols={["Name", "Email", "Role", "Status", "Last login"]} hidden="Actions" />
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

