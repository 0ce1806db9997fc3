/** Admin: users, bench agent tokens, OpenBeken MQTT credentials. Admin only (policy.ts); every form carries CSRF. */
import type { PageProps, RouteHandler } from "../../server/web/pages.ts";
import { authOf, csrfTokenOf } from "../../server/auth/middleware.ts";
import {
  adminChangeUser,
  adminClearLockout,
  adminCreateUser,
  AdminError,
  adminIssueAgentToken,
  adminIssueDeviceCredential,
  adminListing,
  adminRevokeAgentToken,
  adminRevokeDeviceCredential,
} from "../../server/auth/admin.ts";
import { ROLES } from "../../server/auth/users.ts";
import type { ServerContext } from "../../server/context.ts";
import { TableWrap, Toast } from "../../components/ui.tsx";

interface AdminData {
  csrf: string;
  me: string;
  listing: Awaited<ReturnType<typeof adminListing>>;
  message?: string;
  error?: string;
  /** a secret shown exactly once, right after it was created */
  secret?: { what: string; user: string; value: string };
}

async function page(ctx: ServerContext, req: Request, extra: Partial<AdminData> = {}): Promise<AdminData> {
  const p = authOf(req).principal;
  return {
    csrf: csrfTokenOf(req),
    me: p?.kind === "user" ? p.username : "",
    listing: await adminListing(ctx),
    ...extra,
  };
}

const str = (f: FormData, k: string) => {
  const v = f.get(k);
  return typeof v === "string" ? v : "";
};

export const handler: RouteHandler<AdminData> = {
  async GET(ctx) {
    return ctx.render(await page(ctx.server, ctx.req));
  },
  async POST(ctx) {
    const f = await ctx.req.formData().catch(() => new FormData());
    const me = authOf(ctx.req).principal;
    const by = me?.kind === "user" ? me.username : "?";
    const a = ctx.server;
    try {
      let extra: Partial<AdminData> = {};
      switch (str(f, "action")) {
        case "create-user": {
          const u = await adminCreateUser(a, by, {
            username: str(f, "username"),
            role: str(f, "role"),
            password: str(f, "password"),
          });
          extra = { message: `User ${u.username} (${u.role}) created.` };
          break;
        }
        case "set-role": {
          const u = await adminChangeUser(a, by, str(f, "username"), { role: str(f, "role") });
          extra = { message: `${u.username} is now ${u.role}.` };
          break;
        }
        case "disable":
        case "enable": {
          const u = await adminChangeUser(a, by, str(f, "username"), { disabled: str(f, "action") === "disable" });
          extra = { message: `${u.username} ${u.disabled ? "disabled" : "enabled"}.` };
          break;
        }
        case "issue-token": {
          const t = await adminIssueAgentToken(a, by, { agentId: str(f, "agentId"), label: str(f, "label") });
          extra = { secret: { what: "Agent token", user: t.agentId, value: t.token } };
          break;
        }
        case "revoke-token": {
          const t = await adminRevokeAgentToken(a, by, str(f, "id"));
          extra = { message: `Token of ${t.agentId} revoked; ${t.connectionsClosed} live connection(s) closed.` };
          break;
        }
        case "issue-device": {
          const topics = str(f, "topics").split(/[\s,]+/).filter(Boolean);
          const d = await adminIssueDeviceCredential(a, by, {
            topics,
            ...(str(f, "username") ? { username: str(f, "username") } : {}),
            group: str(f, "group") || null,
          });
          extra = { secret: { what: "OpenBeken MQTT password", user: d.username, value: d.password } };
          break;
        }
        case "revoke-device": {
          const d = await adminRevokeDeviceCredential(a, by, str(f, "username"));
          extra = { message: `Credential ${d.username} revoked; ${d.connectionsClosed} live connection(s) closed.` };
          break;
        }
        case "unlock": {
          const r = await adminClearLockout(a, by, {
            ...(str(f, "username") ? { username: str(f, "username") } : {}),
            ...(str(f, "address") ? { address: str(f, "address") } : {}),
          });
          extra = { message: `Sign-in lockout cleared (${r.cleared} count(s)).` };
          break;
        }
        default:
          throw new AdminError(400, "unknown action");
      }
      return ctx.render(await page(a, ctx.req, extra));
    } catch (e) {
      if (!(e instanceof AdminError)) throw e;
      return ctx.render(await page(a, ctx.req, { error: e.message }), { status: e.status });
    }
  },
};

const when = (t: number | null) => (t ? new Date(t).toISOString().replace("T", " ").slice(0, 16) : "");

function Form(
  { csrf, action, children, inline = true }: { csrf: string; action: string; children?: unknown; inline?: boolean },
) {
  return (
    <form method="post" action="/admin" class={inline ? "inline" : "fields"}>
      <input type="hidden" name="_csrf" value={csrf} />
      <input type="hidden" name="action" value={action} />
      {children as never}
    </form>
  );
}

/** A credential's status cell, and its Revoke button while it is live. */
function RevokeCells(p: { csrf: string; revokedAt: number | null; action: string; field: string; value: string }) {
  return (
    <>
      <td>{p.revokedAt ? `revoked ${when(p.revokedAt)}` : "live"}</td>
      <td>
        {p.revokedAt ? null : (
          <Form csrf={p.csrf} action={p.action}>
            <input type="hidden" name={p.field} value={p.value} />
            <button type="submit">Revoke</button>
          </Form>
        )}
      </td>
    </>
  );
}

export default function Admin({ data }: PageProps<AdminData>) {
  const { csrf, listing } = data;
  return (
    <>
      <h1>Access</h1>
      {data.message ? <Toast kind="ok">{data.message}</Toast> : null}
      {data.error ? <p class="error" role="alert">{data.error}</p> : null}
      {data.secret
        ? (
          <div class="card secret">
            <div class="label">{data.secret.what} for {data.secret.user} — shown once, copy it now</div>
            <code id="secret">{data.secret.value}</code>
          </div>
        )
        : null}

      <h2>Sign-in lockouts</h2>
      {listing.lockouts.length === 0 ? <p class="muted">None.</p> : (
        <table>
          <thead>
            <tr>
              <th>User</th>
              <th>Address</th>
              <th>Failures</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {listing.lockouts.map((l) => (
              <tr key={`${l.username}/${l.address}`}>
                <td>{l.username ?? "(any)"}</td>
                <td>{l.address}</td>
                <td>{l.failures}</td>
                <td>
                  <Form csrf={csrf} action="unlock">
                    {l.username ? <input type="hidden" name="username" value={l.username} /> : null}
                    <input type="hidden" name="address" value={l.address} />
                    <button type="submit">Unlock</button>
                  </Form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Form csrf={csrf} action="unlock">
        <input name="username" placeholder="user name" maxLength={32} />
        <input name="address" placeholder="address (empty: every address)" maxLength={64} />
        <button type="submit">Clear lockout</button>
      </Form>

      <h2>Users</h2>
      <TableWrap label="Users">
        <table>
          <thead>
            <tr>
              <th>User</th>
              <th>Role</th>
              <th>Status</th>
              <th>Created</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {listing.users.map((u) => (
              <tr key={u.username}>
                <td>{u.username}{u.username === data.me ? " (you)" : ""}</td>
                <td>
                  <Form csrf={csrf} action="set-role">
                    <input type="hidden" name="username" value={u.username} />
                    <select name="role" aria-label={`Role of ${u.username}`}>
                      {ROLES.map((r) => <option key={r} value={r} selected={r === u.role}>{r}</option>)}
                    </select>
                    <button type="submit">Set</button>
                  </Form>
                </td>
                <td>{u.disabled ? "disabled" : "active"}</td>
                <td>{when(u.createdAt)}</td>
                <td>
                  <Form csrf={csrf} action={u.disabled ? "enable" : "disable"}>
                    <input type="hidden" name="username" value={u.username} />
                    <button type="submit">{u.disabled ? "Enable" : "Disable"}</button>
                  </Form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      <h3>Add a user</h3>
      <Form csrf={csrf} action="create-user" inline={false}>
        <label>
          User name <input name="username" required maxLength={32} autocomplete="off" />
        </label>
        <label>
          Role <select name="role">{ROLES.map((r) => <option key={r} value={r}>{r}</option>)}</select>
        </label>
        <label>
          Password (12+ characters)
          <input name="password" type="password" required minLength={12} maxLength={256} autocomplete="new-password" />
        </label>
        <button type="submit">Add user</button>
      </Form>

      <h2>Bench agent tokens</h2>
      <p class="muted">
        An agent uses its token as <code>AGENT_TOKEN</code>: MQTT user name = agent id, password = token; HTTP{" "}
        <code>Authorization: Bearer</code>.
      </p>
      <TableWrap label="Bench agent tokens">
        <table>
          <thead>
            <tr>
              <th>Agent</th>
              <th>Label</th>
              <th>Created</th>
              <th>By</th>
              <th>Status</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {listing.tokens.map((t) => (
              <tr key={t.id}>
                <td>{t.agentId}</td>
                <td>{t.label}</td>
                <td>{when(t.createdAt)}</td>
                <td>{t.createdBy}</td>
                <RevokeCells csrf={csrf} revokedAt={t.revokedAt} action="revoke-token" field="id" value={t.id} />
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      <h3>Issue an agent token</h3>
      <Form csrf={csrf} action="issue-token" inline={false}>
        <label>
          Agent id <input name="agentId" placeholder="e.g. bench-kitchen" required maxLength={64} />
        </label>
        <label>
          Label <input name="label" maxLength={100} />
        </label>
        <button type="submit">Issue token</button>
      </Form>

      <h2>OpenBeken MQTT credentials</h2>
      <p class="muted">
        Set on the unit with <code>MqttUser</code> /{" "}
        <code>MqttPassword</code>; a credential covers its topics only (one unit, or a site's units).
      </p>
      <TableWrap label="OpenBeken MQTT credentials">
        <table>
          <thead>
            <tr>
              <th>User</th>
              <th>Topics</th>
              <th>Group</th>
              <th>Created</th>
              <th>Status</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {listing.devices.map((d) => (
              <tr key={d.username}>
                <td>{d.username}</td>
                <td>{d.topics.join(", ")}</td>
                <td>{d.group ?? ""}</td>
                <td>{when(d.createdAt)}</td>
                <RevokeCells
                  csrf={csrf}
                  revokedAt={d.revokedAt}
                  action="revoke-device"
                  field="username"
                  value={d.username}
                />
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      <h3>Issue an OpenBeken credential</h3>
      <Form csrf={csrf} action="issue-device" inline={false}>
        <label>
          Topic(s) <input name="topics" placeholder="e.g. obk8C112233" required maxLength={4000} />
        </label>
        <label>
          User name <input name="username" placeholder="default: the topic" maxLength={64} />
        </label>
        <label>
          Group <input name="group" placeholder="e.g. bekens_n" maxLength={64} />
        </label>
        <button type="submit">Issue credential</button>
      </Form>
    </>
  );
}
