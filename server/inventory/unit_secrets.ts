/**
 * Per-unit secrets the server sends on the operator's behalf: today a unit's OpenBeken web password (HTTP Basic,
 * user `admin`, required by every /api/ call once set). Written once by an operator and never shown again:
 * readers get only whether one is set, by whom and when; HTTP OTA delivery opens it to build its Authorization.
 *
 * Keys (this module owns them):
 *   ["unit_web_secret", unitId] -> UnitWebSecret   (the password sealed with server/auth/sealed.ts)
 */
import { DomainError, type ErrorCode } from "../http/errors.ts";
import { auditOp } from "../kv/audit.ts";
import { seal, unseal } from "../auth/sealed.ts";

export interface UnitWebSecret {
  sealed: string;
  setAt: number;
  setBy: string;
}

/** OpenBeken keeps at most 32 characters of its web password (`strncmp(..., 32)` in http_basic_auth.c). */
export const MAX_WEB_PASSWORD = 32;

const key = (unitId: string): Deno.KvKey => ["unit_web_secret", unitId];
const boundTo = (unitId: string) => `unit-web:${unitId}`;

export class UnitSecretInputError extends DomainError {
  override name = "UnitSecretInputError";
  constructor(message: string, code: ErrorCode = "invalid") {
    super(code, message);
  }
}

export async function setUnitWebPassword(
  kv: Deno.Kv,
  sealKey: CryptoKey,
  unitId: string,
  password: string,
  actor: { by: string; now: number },
): Promise<void> {
  if (password.length === 0) throw new UnitSecretInputError("the web password is empty (use clear to remove it)");
  if (password.length > MAX_WEB_PASSWORD) {
    throw new UnitSecretInputError(`OpenBeken web passwords are at most ${MAX_WEB_PASSWORD} characters`);
  }
  if (!(await kv.get(["unit", unitId])).value) throw new UnitSecretInputError(`no such unit ${unitId}`, "not_found");
  const rec: UnitWebSecret = {
    sealed: await seal(sealKey, password, boundTo(unitId)),
    setAt: actor.now,
    setBy: actor.by,
  };
  const op = kv.atomic().set(key(unitId), rec);
  auditOp(op, { actor: actor.by, action: "unit.web_password_set", target: `unit:${unitId}` }, actor.now);
  if (!(await op.commit()).ok) throw new Error("web password commit failed");
}

export async function clearUnitWebPassword(kv: Deno.Kv, unitId: string, actor: { by: string; now: number }) {
  const op = kv.atomic().delete(key(unitId));
  auditOp(op, { actor: actor.by, action: "unit.web_password_cleared", target: `unit:${unitId}` }, actor.now);
  await op.commit();
}

/** What a page may show: whether a password is set, and by whom when. Never the password. */
export async function unitWebPasswordInfo(
  kv: Deno.Kv,
  unitId: string,
): Promise<{ setAt: number; setBy: string } | null> {
  const v = (await kv.get<UnitWebSecret>(key(unitId))).value;
  return v ? { setAt: v.setAt, setBy: v.setBy } : null;
}

/** The password, for delivery only (null when none is set). */
export async function openUnitWebPassword(kv: Deno.Kv, sealKey: CryptoKey, unitId: string): Promise<string | null> {
  const v = (await kv.get<UnitWebSecret>(key(unitId))).value;
  return v ? await unseal(sealKey, v.sealed, boundTo(unitId)) : null;
}
