/**
 * `deno task admin <command>`: identities from the command line, against the same
 * KV as the server (KV_PATH, or DATA_DIR/meterfleet.kv). Passwords are read from
 * stdin (a terminal: typed twice without echo), never from the command line.
 */
import { parseArgs } from "node:util";
import { configFromEnv } from "../config.ts";
import { openKv } from "../app.ts";
import {
  issueAgentToken,
  issueDeviceCredential,
  listAgentTokens,
  listDeviceCredentials,
  revokeAgentToken,
  revokeDeviceCredential,
  unitSecret,
} from "./tokens.ts";
import {
  clearLoginFailures,
  createUser,
  listLockouts,
  listUsers,
  newUserSchema,
  type Role,
  ROLES,
  setDisabled,
  setPassword,
  setRole,
} from "./users.ts";
import { recordAudit } from "../kv/audit.ts";
import { syncMosquittoFiles, writeMosquittoFiles } from "./mosquitto.ts";
import { FirmwareRejected, registerFirmware } from "../firmware/store.ts";
import { createLogger } from "../../shared/log.ts";

const HELP = `deno task admin <command> [options]      (KV from $KV_PATH or $DATA_DIR, default ./data)
  create-user --username <name> --role viewer|operator|admin   password from stdin
  set-password --username <name>                               password from stdin
  set-role --username <name> --role <role>
  disable-user --username <name> | enable-user --username <name>
  list-users
  list-lockouts                                                accounts+addresses and addresses locked after failed sign-ins
  unlock [--username <name>] [--address <ip>]                  clear a sign-in lockout (an account everywhere, an address,
                                                               or that account from that address)
  issue-agent-token --agent <agentId> [--label <text>]         prints the token once
  list-agent-tokens
  revoke-agent-token --id <tokenId>
  issue-device --topic <obkTopic> [--topic …] [--username <name>] [--group <bekens_n>]   prints the password once
  list-devices
  revoke-device --username <name>
  unit-secret                                                  prints the fleet secret for flash-time unit credentials
                                                               (provisioning file mqtt.unitSecret; created on first use)
  upload-firmware <file> [--platform BK7231N] [--version 1.18.300] [--notes <text>]
                                                               registers an OpenBeken image (RBL for OTA, UART images
                                                               for the bench) as the /firmware page does: a truncated
                                                               or corrupted RBL is refused; prints the firmware id
  mosquitto-files --out <dir>                                  writes <dir>/passwd and <dir>/acl (0600)
    [--watch [--pid-file /run/mosquitto/mosquitto.pid] [--every <s>]]   keeps running: rewrites them whenever
                                                               credentials change and SIGHUPs Mosquitto (revoked
                                                               clients are disconnected); KV is reread every 2 s`;

async function readPassword(): Promise<string> {
  const enc = new TextEncoder();
  if (!Deno.stdin.isTerminal()) {
    const text = new TextDecoder().decode(await new Response(Deno.stdin.readable).arrayBuffer());
    return text.split(/\r?\n/)[0];
  }
  const ask = async (q: string) => {
    await Deno.stdout.write(enc.encode(q));
    Deno.stdin.setRaw(true);
    const buf = new Uint8Array(1);
    let s = "";
    try {
      for (;;) {
        const n = await Deno.stdin.read(buf);
        if (n === null || buf[0] === 13 || buf[0] === 10) break;
        if (buf[0] === 3) throw new Error("cancelled");
        if (buf[0] === 127) s = s.slice(0, -1);
        else s += String.fromCharCode(buf[0]);
      }
    } finally {
      Deno.stdin.setRaw(false);
      await Deno.stdout.write(enc.encode("\n"));
    }
    return s;
  };
  const a = await ask("password: ");
  if (a !== await ask("again: ")) throw new Error("passwords differ");
  return a;
}

export async function main(argv: string[]) {
  const [cmd, ...rest] = argv;
  const { values: o, positionals } = parseArgs({
    args: rest,
    options: {
      username: { type: "string" },
      address: { type: "string" },
      role: { type: "string" },
      agent: { type: "string" },
      label: { type: "string" },
      id: { type: "string" },
      topic: { type: "string", multiple: true },
      group: { type: "string" },
      out: { type: "string" },
      watch: { type: "boolean" },
      "pid-file": { type: "string" },
      every: { type: "string" },
      help: { type: "boolean" },
      platform: { type: "string" },
      version: { type: "string" },
      notes: { type: "string" },
    },
    allowPositionals: true,
  });
  if (!cmd || o.help || cmd === "help") {
    console.log(HELP);
    return;
  }
  const need = (v: string | undefined, name: string) => {
    if (!v) throw new Error(`--${name} is required`);
    return v;
  };
  const role = (v: string | undefined) => {
    if (!ROLES.includes(v as Role)) throw new Error(`--role: one of ${ROLES.join(", ")}`);
    return v as Role;
  };
  const config = configFromEnv();
  await refuseMissingKv(config.kvPath, Deno.env.get("DATA_DIR") ?? null, Deno.env.get("KV_PATH") ?? null);
  const kv = await openKv(config.kvPath);
  try {
    switch (cmd) {
      case "create-user": {
        const u = newUserSchema.parse({
          username: need(o.username, "username"),
          role: role(o.role),
          password: await readPassword(),
        });
        if (!await createUser(kv, u)) throw new Error(`user ${u.username} exists`);
        console.log(`created ${u.username} (${u.role})`);
        break;
      }
      case "set-password": {
        const pw = newUserSchema.shape.password.parse(await readPassword());
        if (!await setPassword(kv, need(o.username, "username"), pw)) throw new Error("no such user");
        console.log("password changed; that user's sessions were ended");
        break;
      }
      case "set-role":
        if (!await setRole(kv, need(o.username, "username"), role(o.role))) throw new Error("no such user");
        console.log("role changed");
        break;
      case "disable-user":
      case "enable-user":
        if (!await setDisabled(kv, need(o.username, "username"), cmd === "disable-user")) {
          throw new Error("no such user");
        }
        console.log(cmd === "disable-user" ? "disabled; sessions ended" : "enabled");
        break;
      case "list-users":
        for (const u of await listUsers(kv)) {
          console.log(`${u.username}\t${u.role}\t${u.disabled ? "disabled" : "active"}`);
        }
        break;
      case "list-lockouts":
        for (const l of await listLockouts(kv)) {
          console.log(`${l.username ?? "*"}\t${l.address}\t${l.failures} failures`);
        }
        break;
      case "unlock": {
        if (!o.username && !o.address) throw new Error("--username and/or --address is required");
        const n = await clearLoginFailures(kv, { username: o.username, address: o.address });
        console.log(`cleared ${n} failure count${n === 1 ? "" : "s"}`);
        break;
      }
      case "issue-agent-token": {
        const { token, record } = await issueAgentToken(kv, {
          agentId: need(o.agent, "agent"),
          label: o.label,
          createdBy: "cli",
        });
        console.error(`token ${record.id} for agent ${record.agentId}; run the agent with AGENT_TOKEN set to:`);
        console.log(token);
        break;
      }
      case "list-agent-tokens":
        for (const t of await listAgentTokens(kv)) {
          console.log(`${t.id}\t${t.agentId}\t${t.revokedAt ? "revoked" : "live"}\t${t.label}`);
        }
        break;
      case "revoke-agent-token":
        if (!await revokeAgentToken(kv, need(o.id, "id"))) throw new Error("no such token");
        console.log("revoked (a running server closes that agent's connections)");
        break;
      case "issue-device": {
        const r = await issueDeviceCredential(kv, {
          topics: o.topic ?? [],
          username: o.username,
          group: o.group ?? null,
          createdBy: "cli",
        });
        if (!r) throw new Error("a live credential with that user name exists; revoke it first");
        await recordAudit(kv, {
          actor: `cli:${Deno.env.get("USER") ?? "?"}`,
          action: "device.credential.issue",
          target: `mqtt-user:${r.username}`,
          details: { topics: r.record.topics },
        });
        console.error(`on the unit: MqttUser ${r.username}, MqttPassword:`);
        console.log(r.password);
        break;
      }
      case "list-devices":
        for (const d of await listDeviceCredentials(kv)) {
          console.log(`${d.username}\t${d.topics.join(",")}\t${d.group ?? "-"}\t${d.revokedAt ? "revoked" : "live"}`);
        }
        break;
      case "revoke-device":
        if (!await revokeDeviceCredential(kv, need(o.username, "username"))) throw new Error("no such credential");
        console.log("revoked");
        break;
      case "upload-firmware": {
        const path = positionals[0];
        if (!path || positionals.length > 1) throw new Error("give one file: upload-firmware <file>");
        const bytes = await Deno.readFile(path);
        try {
          const { firmware: f, existed } = await registerFirmware(kv, {
            filename: path.split(/[\\/]/).pop()!,
            bytes,
            platform: o.platform,
            version: o.version,
            notes: o.notes,
            by: "cli",
          });
          console.error(
            existed
              ? `${f.filename} was already registered`
              : `registered ${f.filename} (${f.kind}, ${f.platform} ${f.version}, ${f.size} bytes, sha256 ${f.sha256})`,
          );
          console.log(f.id);
        } catch (e) {
          if (e instanceof FirmwareRejected) throw new Error(`refused: ${e.message}`);
          throw e;
        }
        break;
      }
      case "unit-secret":
        console.log(await unitSecret(kv, true));
        break;
      case "mosquitto-files": {
        if (o.watch) {
          const everyMs = Number(o.every ?? 2) * 1000;
          if (!(everyMs >= 100)) throw new Error("--every: seconds, at least 0.1");
          const stop = new AbortController();
          for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, () => stop.abort());
          const log = createLogger({ level: config.logLevel, fields: { task: "mosquitto-files" } });
          await syncMosquittoFiles(kv, {
            dir: need(o.out, "out"),
            pidFile: o["pid-file"],
            everyMs,
            signal: stop.signal,
            log,
          });
          break;
        }
        const r = await writeMosquittoFiles(kv, need(o.out, "out"));
        console.log(
          `${r.users} users\npassword_file ${r.passwd}\nacl_file ${r.acl}\n(allow_anonymous false; kill -HUP mosquitto to reload)`,
        );
        break;
      }
      default:
        throw new Error(`unknown command ${cmd}\n${HELP}`);
    }
  } finally {
    kv.close();
  }
}

/**
 * The admin commands act on the server's KV. With neither DATA_DIR nor KV_PATH set and no KV in
 * ./data, nothing is created: `unit-secret` would mint a fleet secret the running server (started
 * elsewhere, with its own DATA_DIR) does not have, and units provisioned with it never connect.
 * Pointing DATA_DIR/KV_PATH somewhere on purpose (preparing a new server) still works.
 */
async function refuseMissingKv(kvPath: string, dataDir: string | null, kvEnv: string | null) {
  if (dataDir || kvEnv || /^https?:\/\//.test(kvPath)) return;
  try {
    await Deno.stat(kvPath);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new Error(
      `no meterfleet KV at ${kvPath} (no DATA_DIR or KV_PATH set, so ./data). Point DATA_DIR (or KV_PATH) at the ` +
        `server's data directory, e.g. DATA_DIR=/var/lib/meterfleet deno task admin …. Nothing was created.`,
    );
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    const issues = (e as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
    console.error(
      `error: ${issues ? issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") : (e as Error).message}`,
    );
    Deno.exit(1);
  }
}
