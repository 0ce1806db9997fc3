/**
 * Shared building blocks of every page, rendering the classes of static/styles.css.
 * Server-rendered; islands may import them too (they use only preact and shared/).
 */
import type { ComponentChildren } from "preact";
import type { Zone } from "../shared/zone.ts";
import { absolute, relative } from "../shared/time-text.ts";

type Children = { children?: ComponentChildren };

/** A boxed section; `title` becomes its heading (h2 unless `level` says otherwise). */
export function Card(
  { title, level = 2, children, class: cls, id, testid }: Children & {
    title?: ComponentChildren;
    level?: 2 | 3;
    class?: string;
    id?: string;
    testid?: string;
  },
) {
  const H = level === 3 ? "h3" : "h2";
  return (
    <section class={cls ? `card ${cls}` : "card"} id={id} data-testid={testid}>
      {title ? <H class="card-title">{title}</H> : null}
      {children}
    </section>
  );
}

/** A big number with its label, for the row of cards at the top of a page. */
export function Stat(
  { label, value, unit, title, testid }: {
    label: string;
    value: ComponentChildren;
    unit?: string;
    title?: string;
    testid?: string;
  },
) {
  return (
    <div class="card stat" title={title}>
      <div class="label">{label}</div>
      <div class="value" data-testid={testid}>
        {value}
        {unit ? <span class="unit">{unit}</span> : null}
      </div>
    </div>
  );
}

export type BadgeStatus =
  | "online"
  | "stale"
  | "offline"
  | "failed"
  | "verified"
  | "running"
  | "waiting"
  | "done"
  | "info"
  | "warn";

/** A coloured status pill; the text defaults to the status itself. */
export function Badge({ status, children, title }: Children & { status: BadgeStatus; title?: string }) {
  return <span class={`badge ${status}`} title={title}>{children ?? status}</span>;
}

/**
 * A table's scroll container: the table scrolls inside it (never the page) and its header sticks.
 * It is focusable so keyboard users can scroll it; `label` names it for screen readers.
 */
export function TableWrap({ label, children, testid }: Children & { label: string; testid?: string }) {
  return (
    <div class="table-wrap" role="region" aria-label={label} tabIndex={0} data-testid={testid}>
      {children}
    </div>
  );
}

/** One form field: label, the control (give it `id`), help text and an inline error tied to it by aria. */
export function FormRow(
  { id, label, help, error, children }: Children & {
    id: string;
    label: ComponentChildren;
    help?: ComponentChildren;
    error?: string | null;
  },
) {
  return (
    <div class="form-row">
      <label for={id}>{label}</label>
      {children}
      {help ? <span class="help" id={`${id}-help`}>{help}</span> : null}
      {error ? <span class="field-error" id={`${id}-error`} role="alert">{error}</span> : null}
    </div>
  );
}

/** aria attributes for a control inside a FormRow: `<input id="x" {...fieldAria("x", help, error)} />`. */
export function fieldAria(id: string, help?: unknown, error?: string | null) {
  const by = [help ? `${id}-help` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return { "aria-describedby": by || undefined, "aria-invalid": error ? "true" as const : undefined };
}

/** What an empty list means and what to do next (a link or a button in `children`). */
export function EmptyState({ title, children, testid }: Children & { title: string; testid?: string }) {
  return (
    <div class="empty" data-testid={testid ?? "empty"}>
      <p>
        <strong>{title}</strong>
      </p>
      {children}
    </div>
  );
}

/** A result line for the page (role=status / alert), styled as a toast in the corner. */
export function Toast({ kind = "info", children }: Children & { kind?: "ok" | "error" | "info" }) {
  return (
    <div class="toasts">
      <div class={`toast ${kind}`} role={kind === "error" ? "alert" : "status"}>{children}</div>
    </div>
  );
}

// pure text, shared with islands (which import only shared/ and preact)
export { absolute, relative } from "../shared/time-text.ts";

/** A time shown relative to `now`, with the absolute time (fleet zone) on hover and in `datetime`. */
export function RelativeTime({ ts, now, zone }: { ts: number | null | undefined; now: number; zone?: Zone }) {
  if (ts == null || !Number.isFinite(ts)) return <span class="muted">–</span>;
  const abs = absolute(ts, zone);
  return <time dateTime={new Date(ts).toISOString()} title={abs}>{relative(ts, now)}</time>;
}

/** A number with fixed decimals and a unit, tabular and right-aligned; "–" when missing. */
export function Num(
  { value, unit, digits = 0, class: cls }: {
    value: number | null | undefined;
    unit?: string;
    digits?: number;
    class?: string;
  },
) {
  if (value == null || !Number.isFinite(value)) return <span class={`num muted ${cls ?? ""}`}>–</span>;
  return (
    <span class={`num ${cls ?? ""}`}>
      {value.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits })}
      {unit ? <span class="unit">{unit}</span> : null}
    </span>
  );
}
