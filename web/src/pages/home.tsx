// The landing page after sign-in: who you are and what to do first.
import { Link } from "react-router";
import { Page } from "../components";
import { useSession, useUser } from "../session";
import { views, visible } from "../views";

export default function HomePage() {
  const user = useUser();
  const { apiPaths } = useSession();
  const shown = views.filter((v) => v.path !== "/" && visible(v, user.role, apiPaths));
  return (
    <Page title="Overview">
      <p>
        Signed in as <strong>{user.email}</strong> with the <strong>{user.role}</strong> role.
      </p>
      <section aria-labelledby="next-h">
        <h2 id="next-h">Get started</h2>
        <ol className="steps">
          {user.role === "admin" && (
            <li>
              <Link to="/settings/invitations">Invite your team</Link>: each invitation is a single-use link with a role
              (admin, standard or read-only).
            </li>
          )}
          <li>
            <Link to="/account">Create your API key</Link> to use the API or to connect a sensor.
          </li>
        </ol>
      </section>
      <section aria-labelledby="views-h">
        <h2 id="views-h">Available here</h2>
        <ul>
          {shown.map((v) => (
            <li key={v.path}>
              <Link to={v.path}>{v.label}</Link>
            </li>
          ))}
        </ul>
      </section>
    </Page>
  );
}
