import { assertEquals } from "@std/assert";
import { EventBus } from "../../server/bus.ts";
import { createLogger } from "../../shared/log.ts";

Deno.test("event bus: a failing handler is logged with the event and its owner; the others still run", async () => {
  const lines: string[] = [];
  const bus = new EventBus(createLogger({ level: "debug", sink: (l) => lines.push(l) }));
  let ran = 0;
  bus.on("energy.accounted", () => {
    throw new Error("sync boom");
  }, "energy");
  bus.on("energy.accounted", () => Promise.reject(new Error("async boom")), "history-compactor");
  bus.on("energy.accounted", () => void ran++, "counter");
  bus.emit("energy.accounted", { samples: 3 });
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(ran, 1);
  const failures = lines.filter((l) => l.includes("event handler failed"));
  assertEquals(failures.length, 2, lines.join("\n"));
  assertEquals(
    failures.some((l) => l.includes("energy.accounted") && l.includes("energy") && l.includes("sync boom")),
    true,
  );
  assertEquals(failures.some((l) => l.includes("history-compactor") && l.includes("async boom")), true);
});
