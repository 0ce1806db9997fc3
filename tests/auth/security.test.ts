/**
 * Trust boundaries, attacked: one row per attack as it was reproduced against the server,
 * with the safe outcome it must now meet. Each row runs a real server (real KV file in a
 * temp dir, embedded broker, HTTP on a free port), attacks it over HTTP/MQTT/the file
 * system/a child process as an outsider would, and checks what came out.
 *
 * Areas: backups are private data; the actor is the session; no open redirect after
 * sign-in; the sign-in lockout holds under bursts; secrets on disk are private; the
 * one-time admin password works once; TLS proxy cookies, MQTT connection limit, damaged
 * KV reporting, one-line start-up errors.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import mqtt, { type MqttClient } from "mqtt";
import { startServer } from "../../server/app.ts";
import { configFromEnv, type ServerConfig } from "../../server/config.ts";
import type { ServerContext } from "../../server/context.ts";
import { ensureInitialAdmin } from "../../server/auth/bootstrap.ts";
import { issueAgentToken } from "../../server/auth/tokens.ts";
import { createUser } from "../../server/auth/users.ts";
import { sha256Hex } from "../../server/kv/blobs.ts";
import { createLogger } from "../../shared/log.ts";
import { fetchAs, type TestSession, testSession } from "../helpers/auth.ts";
import { freePort, waitFor } from "../helpers/net.ts";
import { fakeObkImage } from "../flash/helpers.ts";

// ---------------------------------------------------------------------------------------------
// a server with its log captured

interface Srv {
  url: string;
  kv: Deno.Kv;
  dir: string;
  config: ServerConfig;
  brokerUrl: string;
  log: string[];
  session(role: "viewer" | "operator" | "admin", username?: string): Promise<TestSession>;
  close(): Promise<void>;
}

async function start(env: Record<string, string> = {}, dir?: string): Promise<Srv> {
  const ownDir = !dir;
  dir ??= await Deno.makeTempDir({ prefix: "meterfleet-sec-" });
  const log: string[] = [];
  const config: ServerConfig = {
    ...configFromEnv({ DATA_DIR: dir, FLEET_TZ: "UTC", ...env }),
    port: 0,
    otaHttpPort: 0, // PORT+1 by default: a fixed port another server on this host may hold
    embeddedMqttPort: freePort(),
    instanceId: `sec-${crypto.randomUUID().slice(0, 6)}`,
    logLevel: "info",
  };
  const server = await startServer(config, { log: createLogger({ level: "debug", sink: (l) => log.push(l) }) });
  return {
    url: server.url,
    kv: server.ctx.kv,
    dir,
    config,
    brokerUrl: server.ctx.broker!.url,
    log,
    session: (role, username) => testSession(server.ctx.kv, role, username),
    close: async () => {
      await server.close();
      if (ownDir) await Deno.remove(dir!, { recursive: true }).catch(() => {});
    },
  };
}

async function withServer(env: Record<string, string>, fn: (s: Srv) => Promise<void>) {
  const s = await start(env);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

const json = (body: unknown, method = "POST"): RequestInit => ({
  method,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

// ---------------------------------------------------------------------------------------------
// sign-in over HTTP, as a browser does it

function cookiesOf(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of res.headers.getSetCookie()) {
    const [nv] = c.split(";");
    const i = nv.indexOf("=");
    out[nv.slice(0, i)] = nv.slice(i + 1);
  }
  return out;
}

async function loginForm(url: string, next = "/"): Promise<{ csrf: string; cookie: string; html: string }> {
  const res = await fetch(`${url}/login?next=${encodeURIComponent(next)}`);
  const html = await res.text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(html)![1];
  return { csrf, cookie: `mf_login_csrf=${cookiesOf(res).mf_login_csrf}`, html };
}

async function login(
  url: string,
  username: string,
  password: string,
  opts: { next?: string; headers?: Record<string, string>; form?: { csrf: string; cookie: string } } = {},
): Promise<Response> {
  const f = opts.form ?? await loginForm(url);
  const res = await fetch(`${url}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: f.cookie, ...opts.headers },
    body: new URLSearchParams({ username, password, _csrf: f.csrf, ...(opts.next ? { next: opts.next } : {}) }),
  });
  await res.body?.cancel();
  return res;
}

const sessionOf = (res: Response) => `mf_session=${cookiesOf(res).mf_session}`;

// ---------------------------------------------------------------------------------------------
// a bench agent's backup, uploaded over the agent API exactly as edge-agent/flash/server-client.ts does

const WIFI_PASSWORD = "CustomerWiFi-Secret-7731";

function customerBackup(seed: number): Uint8Array {
  // a full 2 MiB dump: the server credits a backup to a unit only when its TLV sector names the MAC
  const img = fakeObkImage(0x200000, seed);
  // what makes a backup private: the customer's Wi-Fi credentials in the stock firmware's config
  img.set(new TextEncoder().encode(`ssid=HomeNet;psk=${WIFI_PASSWORD};tuya_key=abcdef0123456789`), 150_000);
  return img;
}

async function agentToken(kv: Deno.Kv, agentId: string): Promise<string> {
  return (await issueAgentToken(kv, { agentId, label: "sec", createdBy: "test" })).token;
}

/** The unit's MAC in the BK7231N TLV sector (0x1d0000: 02 11 11 11 06 00 00 00, then the MAC), in place. */
function withMac(bytes: Uint8Array, mac: string): Uint8Array {
  bytes.set([0x02, 0x11, 0x11, 0x11, 0x06, 0, 0, 0, ...mac.split(":").map((h) => parseInt(h, 16))], 0x1d0000 + 0x1c);
  return bytes;
}

async function uploadBackup(url: string, agentId: string, token: string, bytes: Uint8Array, mac: string) {
  withMac(bytes, mac);
  const sha = await sha256Hex(bytes);
  const root = `${url}/api/agents/${agentId}/flash`;
  const auth = { authorization: `Bearer ${token}` };
  const upload = `sec~${crypto.randomUUID().slice(0, 8)}`;
  for (let i = 0; i * 60_000 < bytes.length; i++) {
    const r = await fetch(`${root}/backups/${sha}/parts/${i}?upload=${upload}`, {
      method: "PUT",
      headers: auth,
      body: bytes.slice(i * 60_000, (i + 1) * 60_000),
    });
    assertEquals(r.status, 204);
    await r.body?.cancel();
  }
  const commit = await fetch(`${root}/backups/${sha}/commit`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ upload, parts: Math.ceil(bytes.length / 60_000), size: bytes.length, chip: "bk7231n", mac }),
  });
  assertEquals(commit.status, 200, await commit.clone().text());
  await commit.body?.cancel();
  const unit = await fetch(`${root}/units`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ chip: "bk7231n", mac, backupId: sha, benchHost: agentId }),
  });
  assertEquals(unit.status, 200, await unit.clone().text());
  const { unitId } = await unit.json();
  return { sha, unitId: unitId as string };
}

async function fileHas(path: string, needle: string): Promise<boolean> {
  const bytes = await Deno.readFile(path).catch(() => new Uint8Array());
  const n = new TextEncoder().encode(needle);
  outer: for (let i = 0; i + n.length <= bytes.length; i++) {
    for (let j = 0; j < n.length; j++) if (bytes[i + j] !== n[j]) continue outer;
    return true;
  }
  return false;
}

async function auditOf(s: Srv, target: string): Promise<{ actor: string; action: string; at: number }[]> {
  const admin = await s.session("admin", "audit-reader");
  const res = await fetchAs(s.url, admin, `/api/audit?target=${encodeURIComponent(target)}`);
  assertEquals(res.status, 200);
  return await res.json();
}

const mode = async (p: string) => (await Deno.stat(p)).mode! & 0o777;

async function mqttConnect(url: string, o: { clientId: string; username: string; password: string }) {
  try {
    return await mqtt.connectAsync(url, { ...o, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
  } catch (e) {
    return e as Error;
  }
}

/** server/main.ts as a child process: its exit code and what it printed to stderr */
async function runMain(env: Record<string, string>, timeoutMs = 30_000) {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../../server/main.ts", import.meta.url).pathname],
    env: { FLEET_TZ: "UTC", LOG_LEVEL: "error", MQTT_PORT: String(freePort()), ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const out = await proc.output();
  clearTimeout(timer);
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
}

// ---------------------------------------------------------------------------------------------
// the attacks

interface Attack {
  area: string;
  attack: string;
  safe: string;
  run(): Promise<void>;
}

const ATTACKS: Attack[] = [
  // ---- backups are private data
  {
    area: "backups",
    attack: "anonymous GET /fw/<backup sha>/x downloads a customer's stock-firmware backup",
    safe: "refused, also after the same bytes are uploaded as firmware; the server log never names the sha256",
    run: () =>
      withServer({}, async (s) => {
        const bytes = customerBackup(1);
        const { sha } = await uploadBackup(
          s.url,
          "bench-1",
          await agentToken(s.kv, "bench-1"),
          bytes,
          "c8:47:8c:00:01:01",
        );
        const res = await fetch(`${s.url}/fw/${sha}/stock.bin`);
        const body = new Uint8Array(await res.arrayBuffer());
        assert(res.status !== 200 || (await sha256Hex(body)) !== sha, "the backup was served on the firmware path");
        // nor can an admin turn it into a "firmware image" that /fw would then serve
        const admin = await s.session("admin", "ada");
        const up = await fetchAs(s.url, admin, "/api/firmware?filename=OpenBK7231N_UA_1.18.299.bin", {
          method: "POST",
          headers: { "content-type": "application/octet-stream" },
          body: bytes as Uint8Array<ArrayBuffer>,
        });
        await up.body?.cancel();
        const again = await fetch(`${s.url}/fw/${sha}/OpenBK7231N_UA_1.18.299.bin`);
        assert(again.status !== 200, `served after a firmware upload of the same bytes (upload ${up.status})`);
        await again.body?.cancel();
        assert(!s.log.some((l) => l.includes(sha)), "the backup's sha256 is in the server log");
      }),
  },
  {
    area: "backups",
    attack: "a viewer reads the unit (API and page) and learns the backup's sha256",
    safe: "the viewer sees that a backup is stored, not its sha256; an operator sees it",
    run: () =>
      withServer({}, async (s) => {
        const bytes = customerBackup(2);
        const { sha, unitId } = await uploadBackup(
          s.url,
          "bench-1",
          await agentToken(s.kv, "bench-1"),
          bytes,
          "c8:47:8c:00:02:02",
        );
        const viewer = await s.session("viewer", "vic");
        for (const path of [`/api/units/${unitId}`, `/units/${unitId}`, "/api/units"]) {
          const res = await fetchAs(s.url, viewer, path);
          assertEquals(res.status, 200, path);
          const text = await res.text();
          assert(!text.includes(sha) && !text.includes(sha.slice(0, 12)), `${path} shows the sha to a viewer`);
          if (path.startsWith("/units/")) assertMatch(text, /backup stored/);
        }
        const op = await s.session("operator", "otto");
        assert((await (await fetchAs(s.url, op, `/api/units/${unitId}`)).text()).includes(sha));
      }),
  },
  {
    area: "backups",
    attack: "downloading a backup leaves no trace of who took it",
    safe:
      "operators download it through /api/units/<id>/backups/<sha>, audited; viewers and other units' routes refused",
    run: () =>
      withServer({}, async (s) => {
        const bytes = customerBackup(3);
        const token = await agentToken(s.kv, "bench-1");
        const { sha, unitId } = await uploadBackup(s.url, "bench-1", token, bytes, "c8:47:8c:00:03:03");
        const other = await uploadBackup(s.url, "bench-1", token, customerBackup(33), "c8:47:8c:00:03:04");
        const viewer = await s.session("viewer", "vic");
        const denied = await fetchAs(s.url, viewer, `/api/units/${unitId}/backups/${sha}`);
        assertEquals(denied.status, 403);
        await denied.body?.cancel();
        const op = await s.session("operator", "otto");
        const wrongUnit = await fetchAs(s.url, op, `/api/units/${other.unitId}/backups/${sha}`);
        assertEquals(wrongUnit.status, 404);
        await wrongUnit.body?.cancel();
        const res = await fetchAs(s.url, op, `/api/units/${unitId}/backups/${sha}`);
        assertEquals(res.status, 200);
        assertEquals(await sha256Hex(new Uint8Array(await res.arrayBuffer())), sha);
        const audit = await auditOf(s, `unit:${unitId}`);
        assert(
          audit.some((e) => e.actor === "otto" && e.action === "backup.download"),
          `no audit entry of the download: ${JSON.stringify(audit)}`,
        );
      }),
  },
  {
    area: "backups",
    attack: "bench-2 fetches bench-1's backup (flash restore --backup-id)",
    safe: "bench-2 gets 404 and is not told it exists; bench-1 gets its own backup back",
    run: () =>
      withServer({}, async (s) => {
        const bytes = customerBackup(4);
        const t1 = await agentToken(s.kv, "bench-1");
        const t2 = await agentToken(s.kv, "bench-2");
        const { sha } = await uploadBackup(s.url, "bench-1", t1, bytes, "c8:47:8c:00:04:04");
        const theirs = await fetch(`${s.url}/api/agents/bench-2/flash/backups/${sha}/bytes`, {
          headers: { authorization: `Bearer ${t2}` },
        });
        assertEquals(theirs.status, 404);
        await theirs.body?.cancel();
        const exists = await fetch(`${s.url}/api/agents/bench-2/flash/backups/${sha}`, {
          headers: { authorization: `Bearer ${t2}` },
        });
        assertEquals((await exists.json()).exists, false);
        const mine = await fetch(`${s.url}/api/agents/bench-1/flash/backups/${sha}/bytes`, {
          headers: { authorization: `Bearer ${t1}` },
        });
        assertEquals(mine.status, 200);
        assertEquals(await sha256Hex(new Uint8Array(await mine.arrayBuffer())), sha);
      }),
  },
  {
    area: "backups",
    attack: "a copy of the KV file is searched for the customer's Wi-Fi password",
    safe: "not there: backups are sealed with a key kept outside KV (a 0600 key file)",
    run: () =>
      withServer({}, async (s) => {
        await uploadBackup(s.url, "bench-1", await agentToken(s.kv, "bench-1"), customerBackup(5), "c8:47:8c:00:05:05");
        for (const f of ["", "-wal", "-shm"]) {
          assert(!(await fileHas(`${s.config.kvPath}${f}`, WIFI_PASSWORD)), `Wi-Fi password readable in KV file${f}`);
        }
        const keyFiles = [...Deno.readDirSync(s.dir)].filter((e) => e.isFile && /key/i.test(e.name));
        assert(keyFiles.length > 0, "no key file in DATA_DIR");
        for (const k of keyFiles) assertEquals(await mode(`${s.dir}/${k.name}`), 0o600, k.name);
      }),
  },
  {
    area: "backups",
    attack: "a backup stored in plain form by an earlier version stays on the public firmware path",
    safe: "at start it is sealed and flagged; /fw refuses it and operators still download it intact",
    run: async () => {
      const dir = await Deno.makeTempDir({ prefix: "meterfleet-sec-" });
      try {
        const bytes = withMac(customerBackup(6), "c8:47:8c:00:06:06");
        const sha = await sha256Hex(bytes);
        {
          // the layout an earlier version wrote: plain chunks, meta, backup record, unit linking it
          await Deno.chmod(dir, 0o700);
          const kv = await Deno.openKv(`${dir}/meterfleet.kv`);
          for (let i = 0; i * 60_000 < bytes.length; i++) {
            await kv.set(["blob_chunk", sha, i], bytes.slice(i * 60_000, (i + 1) * 60_000));
          }
          await kv.set(["blob_meta", sha], {
            sha256: sha,
            size: bytes.length,
            chunks: Math.ceil(bytes.length / 60_000),
            chunkSize: 60_000,
            createdAt: 1,
          });
          await kv.set(["flash_backup", sha], {
            sha256: sha,
            size: bytes.length,
            chip: "bk7231n",
            mac: "c8:47:8c:00:06:06",
            flashId: null,
            benchHost: "bench-old",
            agentId: "bench-old",
            port: null,
            at: 1,
            seen: 1,
          });
          await kv.set(["flash_backups_by_mac", "c8:47:8c:00:06:06", sha], true);
          kv.close();
        }
        const s = await start({}, dir);
        try {
          const anon = await fetch(`${s.url}/fw/${sha}/x.bin`);
          assert(anon.status !== 200, "plain legacy backup served on /fw");
          await anon.body?.cancel();
          const t = await agentToken(s.kv, "bench-old");
          const reg = await fetch(`${s.url}/api/agents/bench-old/flash/units`, {
            method: "POST",
            headers: { authorization: `Bearer ${t}`, "content-type": "application/json" },
            body: JSON.stringify({ chip: "bk7231n", mac: "c8:47:8c:00:06:06", backupId: sha, benchHost: "bench-old" }),
          });
          const { unitId } = await reg.json();
          const op = await s.session("operator", "otto");
          const res = await fetchAs(s.url, op, `/api/units/${unitId}/backups/${sha}`);
          assertEquals(res.status, 200);
          assertEquals(await sha256Hex(new Uint8Array(await res.arrayBuffer())), sha);
          const own = await fetch(`${s.url}/api/agents/bench-old/flash/backups/${sha}/bytes`, {
            headers: { authorization: `Bearer ${t}` },
          });
          assertEquals(own.status, 200, "the bench that took it can still restore it");
          await own.body?.cancel();
        } finally {
          await s.close();
        }
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    },
  },

  // ---- the actor is the session
  {
    area: "actor",
    attack: 'operator alice edits a unit with {by: "admin"}',
    safe: "nothing is recorded as admin; alice's own edit is recorded as alice, at the server's time",
    run: () =>
      withServer({}, async (s) => {
        const alice = await s.session("operator", "alice");
        const made = await fetchAs(s.url, alice, "/api/units", json({ mac: "c8:47:8c:aa:00:01", chip: "BK7231N" }));
        assertEquals(made.status, 201);
        const { id } = await made.json();
        const spoof = await fetchAs(s.url, alice, `/api/units/${id}`, json({ site: "x", by: "admin" }, "PATCH"));
        await spoof.body?.cancel();
        const plain = await fetchAs(s.url, alice, `/api/units/${id}`, json({ site: "plant-2" }, "PATCH"));
        assertEquals(plain.status, 200);
        const audit = await auditOf(s, `unit:${id}`);
        assert(!audit.some((e) => e.actor === "admin"), `recorded as admin: ${JSON.stringify(audit)}`);
        const edits = audit.filter((e) => e.action === "unit.edit");
        assert(edits.length >= 1 && edits.every((e) => e.actor === "alice"), JSON.stringify(edits));
        assert(edits.every((e) => Math.abs(e.at - Date.now()) < 60_000));
      }),
  },
  {
    area: "actor",
    attack: 'alice logs rework as {who: "admin", at: 2000-01-01}',
    safe: "no entry by admin or dated 2000 is written or exported; an entry is alice's, dated now",
    run: () =>
      withServer({}, async (s) => {
        const alice = await s.session("operator", "alice");
        const { id } = await (await fetchAs(s.url, alice, "/api/units", json({ mac: "c8:47:8c:aa:00:02" }))).json();
        const y2k = Date.UTC(2000, 0, 1);
        const spoof = await fetchAs(
          s.url,
          alice,
          `/api/units/${id}/rework`,
          json({ component: "RN8209C", action: "desoldered", who: "admin", at: y2k }),
        );
        await spoof.body?.cancel();
        const ok = await fetchAs(
          s.url,
          alice,
          `/api/units/${id}/rework`,
          json({ component: "RN8209C", action: "resoldered", onBehalfOf: "Bob (phone)" }),
        );
        assertEquals(ok.status, 201, await ok.clone().text());
        const csv = await (await fetchAs(s.url, alice, "/api/audit.csv")).text();
        assert(!/,admin,/.test(csv) && !csv.includes("2000-01-01"), csv);
        const log = await (await fetchAs(s.url, alice, "/api/rework.csv")).text();
        assert(!log.includes("2000-01-01") && !/,admin,/.test(log), log);
        assertMatch(log, /,alice,Bob \(phone\),/);
      }),
  },
  {
    area: "actor",
    attack: "the unit page's rework form is posted with who=admin (and the firmware upload with by=mallory)",
    safe: "the page writes the signed-in user; the upload is credited to its uploader",
    run: () =>
      withServer({}, async (s) => {
        const alice = await s.session("operator", "alice");
        const { id } = await (await fetchAs(s.url, alice, "/api/units", json({ mac: "c8:47:8c:aa:00:03" }))).json();
        const page = await fetchAs(s.url, alice, `/units/${id}`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            _csrf: alice.csrf,
            form: "rework",
            component: "C12",
            action: "replaced",
            who: "admin",
          }),
        });
        await page.body?.cancel();
        const rework = (await (await fetchAs(s.url, alice, `/api/units/${id}`)).json()).rework as { who: string }[];
        assertEquals(rework.map((r) => r.who), ["alice"]);

        const carol = await s.session("admin", "carol");
        const up = await fetchAs(
          s.url,
          carol,
          "/api/firmware?filename=OpenBK7231N_UA_1.18.299.bin&by=mallory",
          {
            method: "POST",
            headers: { "content-type": "application/octet-stream" },
            body: fakeObkImage(0x20000, 5) as Uint8Array<ArrayBuffer>,
          },
        );
        await up.body?.cancel();
        const fw = await (await fetchAs(s.url, carol, "/api/firmware")).json() as { uploadedBy: string }[];
        assert(!fw.some((f) => f.uploadedBy === "mallory"), JSON.stringify(fw));
      }),
  },
  {
    area: "actor",
    attack: 'a bench calibration names its own calibrator {by: "admin"}',
    safe: "not recorded as admin",
    run: () =>
      withServer({}, async (s) => {
        const alice = await s.session("operator", "alice");
        const { id } = await (await fetchAs(s.url, alice, "/api/units", json({ mac: "c8:47:8c:aa:00:04" }))).json();
        const body = {
          chip: "BL0937",
          reference: { voltage: 230, current: 1, power: 230 },
          raw: { voltage: 225, current: 0.98, power: 220 },
          oldFactors: { voltage: 1, current: 1, power: 1 },
        };
        const spoof = await fetchAs(s.url, alice, `/api/units/${id}/calibrations`, json({ ...body, by: "admin" }));
        await spoof.body?.cancel();
        const hist = await (await fetchAs(s.url, alice, `/api/units/${id}/calibrations`)).json() as { by: string }[];
        assert(!hist.some((h) => h.by === "admin"), JSON.stringify(hist));
      }),
  },

  // ---- open redirect after sign-in
  ...["/%09/evil.example", "/%09%5Cevil.example", "/%00", "/%E3%80%80evil.example"].map(
    (next): Attack => ({
      area: "redirect",
      attack: `/login?next=${next}`,
      safe: "the form carries next=/ and signing in lands on /, never another site, never a 500",
      run: () =>
        withServer({}, async (s) => {
          await createUser(s.kv, { username: "rita", role: "viewer", password: "rita's long password" });
          const f = await loginForm(s.url, decodeURIComponent(next));
          assertMatch(f.html, /name="next" value="\/"/);
          const res = await login(s.url, "rita", "rita's long password", { next: decodeURIComponent(next), form: f });
          assertEquals(res.status, 303);
          assertEquals(res.headers.get("location"), "/");
        }),
    }),
  ),

  // ---- sign-in lockout
  {
    area: "lockout",
    attack: "30 wrong passwords in one burst, then the right one",
    safe: "at most 10 guesses are checked; the right one after them is refused (locked)",
    run: () =>
      withServer({}, async (s) => {
        await createUser(s.kv, { username: "lena", role: "operator", password: "lena's right password" });
        const f = await loginForm(s.url);
        const burst = await Promise.all(
          Array.from({ length: 30 }, (_, i) => login(s.url, "lena", `wrong guess ${i}`, { form: f })),
        );
        const checked = burst.filter((r) => r.status === 401).length;
        assert(checked <= 10, `${checked} wrong passwords were checked`);
        const right = await login(s.url, "lena", "lena's right password", { form: f });
        assertEquals(right.status, 429);
      }),
  },
  {
    area: "lockout",
    attack: "ten bad attempts from one address (behind the TLS proxy) against the admin",
    safe: "that address is locked out; the admin signs in from their own address",
    run: () =>
      withServer({ TRUST_PROXY: "true" }, async (s) => {
        await createUser(s.kv, { username: "root", role: "admin", password: "root's right password" });
        const from = (ip: string) => ({ headers: { "x-forwarded-for": ip } });
        for (let i = 0; i < 10; i++) {
          assertEquals((await login(s.url, "root", `guess ${i}`, from("203.0.113.9"))).status, 401);
        }
        assertEquals((await login(s.url, "root", "root's right password", from("203.0.113.9"))).status, 429);
        assertEquals((await login(s.url, "root", "root's right password", from("198.51.100.7"))).status, 303);
      }),
  },
  {
    area: "lockout",
    attack: "an attacker's 9 failures, the owner's success elsewhere, then more guesses",
    safe: "the success does not reset the attacker's count: the 10th guess is the last one checked",
    run: () =>
      withServer({ TRUST_PROXY: "true" }, async (s) => {
        await createUser(s.kv, { username: "mia", role: "viewer", password: "mia's right password" });
        const a = { headers: { "x-forwarded-for": "203.0.113.20" } };
        for (let i = 0; i < 9; i++) await login(s.url, "mia", `guess ${i}`, a);
        assertEquals(
          (await login(s.url, "mia", "mia's right password", { headers: { "x-forwarded-for": "198.51.100.20" } }))
            .status,
          303,
        );
        const after = [];
        for (let i = 0; i < 3; i++) after.push((await login(s.url, "mia", `more ${i}`, a)).status);
        assertEquals(after, [401, 429, 429]);
      }),
  },
  {
    area: "lockout",
    attack: "a locked-out operator needs in now",
    safe: "an admin clears the lockout (admin API, and `deno task admin unlock`), and the right password works",
    run: () =>
      withServer({}, async (s) => {
        await createUser(s.kv, { username: "nick", role: "operator", password: "nick's right password" });
        const lock = async () => {
          for (let i = 0; i < 10; i++) await login(s.url, "nick", `guess ${i}`);
          assertEquals((await login(s.url, "nick", "nick's right password")).status, 429);
        };
        await lock();
        const admin = await s.session("admin", "ada");
        const cleared = await fetchAs(s.url, admin, "/api/auth/lockouts/clear", json({ username: "nick" }));
        assertEquals(cleared.status, 200, await cleared.clone().text());
        assertEquals((await login(s.url, "nick", "nick's right password")).status, 303);
        await lock();
        const cli = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL("../../server/auth/cli.ts", import.meta.url).pathname,
            "unlock",
            "--username",
            "nick",
          ],
          env: { KV_PATH: s.config.kvPath, DATA_DIR: s.dir },
          stdout: "piped",
          stderr: "piped",
        }).output();
        assertEquals(cli.code, 0, new TextDecoder().decode(cli.stderr));
        assertEquals((await login(s.url, "nick", "nick's right password")).status, 303);
      }),
  },
  {
    area: "lockout",
    attack: "a burst of 200 sign-ins for 200 names at once",
    safe: "the overflow is refused at once (429) instead of 200 password hashes held in memory together",
    run: () =>
      withServer({}, async (s) => {
        const f = await loginForm(s.url);
        const res = await Promise.all(
          Array.from({ length: 200 }, (_, i) => login(s.url, `user${i}`, "some guess", { form: f })),
        );
        const statuses = res.map((r) => r.status);
        assert(statuses.every((c) => c === 401 || c === 429), String(statuses));
        assert(
          statuses.filter((c) => c === 429).length >= 100,
          `only ${statuses.filter((c) => c === 429).length} refused`,
        );
      }),
  },

  // ---- secrets on disk
  {
    area: "files",
    attack: "another local user reads DATA_DIR on a fresh install",
    safe: "DATA_DIR is 0700, the KV file (and its -wal/-shm) and key files 0600",
    run: async () => {
      const parent = await Deno.makeTempDir({ prefix: "meterfleet-sec-" });
      const s = await start({}, `${parent}/data`);
      try {
        await s.session("admin"); // a write, so the WAL exists
        assertEquals(await mode(s.dir), 0o700, "DATA_DIR");
        for (const f of [s.config.kvPath, `${s.config.kvPath}-wal`, `${s.config.kvPath}-shm`]) {
          if (await Deno.stat(f).then(() => true, () => false)) assertEquals(await mode(f), 0o600, f);
        }
      } finally {
        await s.close();
        await Deno.remove(parent, { recursive: true }).catch(() => {});
      }
    },
  },
  {
    area: "files",
    attack: "an install whose DATA_DIR is 0755 and KV file 0644 (as earlier versions left them)",
    safe: "repaired at start to 0700/0600, with a warning in the log",
    run: async () => {
      const dir = await Deno.makeTempDir({ prefix: "meterfleet-sec-" });
      try {
        const kv = await Deno.openKv(`${dir}/meterfleet.kv`);
        await kv.set(["x"], 1);
        kv.close();
        await Deno.chmod(dir, 0o755);
        await Deno.chmod(`${dir}/meterfleet.kv`, 0o644);
        const s = await start({}, dir);
        try {
          assertEquals(await mode(dir), 0o700);
          assertEquals(await mode(`${dir}/meterfleet.kv`), 0o600);
          assert(s.log.some((l) => l.includes('"warn"') && l.includes("0600")), "no warning logged");
          assert(s.log.some((l) => l.includes('"warn"') && l.includes("0700")), "no warning logged");
        } finally {
          await s.close();
        }
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    },
  },

  // ---- the one-time admin password
  {
    area: "one-time password",
    attack: "the one-time admin password is used a second time",
    safe: "refused; the first sign-in leads only to choosing a new password, which then works",
    run: () =>
      withServer({}, async (s) => {
        const path = await ensureInitialAdmin(
          { kv: s.kv, config: s.config, log: createLogger({ level: "error" }) } as unknown as ServerContext,
        );
        const password = /password: (\S+)/.exec(await Deno.readTextFile(path!))![1];
        const first = await login(s.url, "admin", password, { next: "/admin" });
        assertEquals(first.status, 303);
        assertEquals(first.headers.get("location"), "/account");
        const cookie = sessionOf(first);
        const admin = await fetch(`${s.url}/admin`, { headers: { cookie, accept: "text/html" }, redirect: "manual" });
        await admin.body?.cancel();
        assertEquals([admin.status, admin.headers.get("location")], [303, "/account"]);
        const api = await fetch(`${s.url}/api/auth/users`, { headers: { cookie } });
        await api.body?.cancel();
        assertEquals(api.status, 403);
        assertEquals((await login(s.url, "admin", password)).status, 401, "the one-time password worked twice");

        const page = await (await fetch(`${s.url}/account`, { headers: { cookie } })).text();
        const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1];
        const set = await fetch(`${s.url}/account`, {
          method: "POST",
          redirect: "manual",
          headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ _csrf: csrf, password: "my own admin password", again: "my own admin password" }),
        });
        await set.body?.cancel();
        assertEquals(set.status, 303);
        const fresh = sessionOf(set);
        const now = await fetch(`${s.url}/api/auth/users`, { headers: { cookie: fresh } });
        await now.body?.cancel();
        assertEquals(now.status, 200);
        assertEquals((await login(s.url, "admin", "my own admin password")).status, 303);
      }),
  },

  // ---- smaller
  {
    area: "proxy",
    attack: "signing in through a TLS-terminating proxy (X-Forwarded-Proto: https)",
    safe:
      "with TRUST_PROXY the session cookie is Secure (and the https Origin is accepted); without it the header is not believed",
    run: async () => {
      await withServer({ TRUST_PROXY: "true" }, async (s) => {
        await createUser(s.kv, { username: "tess", role: "viewer", password: "tess's long password" });
        const host = new URL(s.url).host;
        const res = await login(s.url, "tess", "tess's long password", {
          headers: { "x-forwarded-proto": "https", origin: `https://${host}` },
        });
        assertEquals(res.status, 303);
        assertMatch(res.headers.getSetCookie().find((c) => c.startsWith("mf_session="))!, /; Secure/);
      });
      await withServer({}, async (s) => {
        await createUser(s.kv, { username: "tess", role: "viewer", password: "tess's long password" });
        const res = await login(s.url, "tess", "tess's long password", { headers: { "x-forwarded-proto": "https" } });
        assertEquals(res.status, 303);
        assert(!/; Secure/.test(res.headers.getSetCookie().find((c) => c.startsWith("mf_session="))!));
      });
    },
  },
  {
    area: "mqtt",
    attack: "one agent token opens 40 MQTT connections at once",
    safe: "at most MQTT_MAX_CONNECTIONS (here 5) are accepted; a closed one frees its place",
    run: () =>
      withServer({ MQTT_MAX_CONNECTIONS: "5" }, async (s) => {
        const token = await agentToken(s.kv, "bench-flood");
        const all = await Promise.all(
          Array.from(
            { length: 40 },
            (_, i) =>
              mqttConnect(s.brokerUrl, {
                clientId: `meterfleet-agent-bench-flood-${i}`,
                username: "bench-flood",
                password: token,
              }),
          ),
        );
        const open = all.filter((c): c is MqttClient => !(c instanceof Error));
        try {
          assertEquals(open.length, 5);
          await open.pop()!.endAsync();
          const again = await mqttConnect(s.brokerUrl, {
            clientId: "meterfleet-agent-bench-flood-again",
            username: "bench-flood",
            password: token,
          });
          assert(!(again instanceof Error), "a freed place was not reusable");
          open.push(again);
        } finally {
          await Promise.all(open.map((c) => c.endAsync()));
        }
      }),
  },
  {
    area: "kv",
    attack: "the KV file has damaged pages (disk error, bad copy)",
    safe: "the server refuses to start with one line naming the file, or /api/health reports kv not ok",
    run: async () => {
      const dir = await Deno.makeTempDir({ prefix: "meterfleet-sec-" });
      try {
        const kv = await Deno.openKv(`${dir}/meterfleet.kv`);
        for (let i = 0; i < 2000; i++) await kv.set(["filler", i], "v".repeat(500));
        kv.close();
        const f = await Deno.open(`${dir}/meterfleet.kv`, { read: true, write: true });
        const size = (await f.stat()).size;
        await f.seek(Math.floor(size / 2 / 4096) * 4096, Deno.SeekMode.Start);
        await f.write(new Uint8Array(4 * 4096).fill(0xab));
        f.close();
        let s: Srv;
        try {
          s = await start({}, dir);
        } catch (e) {
          assertMatch((e as Error).message, /malformed|damaged/);
          return;
        }
        try {
          const h = await waitFor(async () => {
            const r = await fetch(`${s.url}/api/health`);
            const b = await r.json();
            return b.kvCheck === "running" ? null : { status: r.status, body: b };
          }, { what: "KV check finished" });
          assert(h.body.kv !== "ok", `damaged KV reported as ${JSON.stringify(h.body)}`);
          assertEquals(h.status, 503);
        } finally {
          await s.close();
        }
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    },
  },
  {
    area: "start-up",
    attack: "the server starts on a truncated KV file, or on a port already in use",
    safe: "it exits non-zero with one line saying which, not a stack trace",
    run: async () => {
      const dir = await Deno.makeTempDir({ prefix: "meterfleet-sec-" });
      try {
        const kv = await Deno.openKv(`${dir}/meterfleet.kv`);
        for (let i = 0; i < 500; i++) await kv.set(["filler", i], "v".repeat(500));
        kv.close();
        const f = await Deno.open(`${dir}/meterfleet.kv`, { read: true, write: true });
        await f.truncate(Math.floor((await f.stat()).size / 3));
        f.close();
        const truncated = await runMain({ DATA_DIR: dir, PORT: String(freePort()) });
        assert(truncated.code !== 0);
        assertEquals(truncated.stderr.split("\n").length, 1, truncated.stderr);
        assertMatch(truncated.stderr, /meterfleet\.kv/);

        const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        try {
          const port = (busy.addr as Deno.NetAddr).port;
          const r = await runMain({ DATA_DIR: `${dir}/fresh`, PORT: String(port) });
          assert(r.code !== 0);
          assertEquals(r.stderr.split("\n").length, 1, r.stderr);
          assertMatch(r.stderr, new RegExp(`${port}`));
        } finally {
          busy.close();
        }
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    },
  },
];

for (const a of ATTACKS) {
  Deno.test(`[${a.area}] ${a.attack} → ${a.safe}`, a.run);
}
