/**
 * The one MQTT topic scheme between bench agents and the server. Versioned so
 * a v2 agent and a v1 server can share a broker without misreading each other.
 */
export const TOPIC_ROOT = "meterfleet/v1";

/** Agent ids double as topic levels: keep them free of MQTT wildcards and separators. */
export const AGENT_ID = /^[A-Za-z0-9_.-]{1,64}$/;

function agentTopic(agentId: string, leaf: string): string {
  if (!AGENT_ID.test(agentId)) throw new Error(`invalid agent id ${JSON.stringify(agentId)}`);
  return `${TOPIC_ROOT}/agents/${agentId}/${leaf}`;
}

export const topics = {
  /** agent → server: CBOR TelemetryBatch */
  telemetry: (agentId: string) => agentTopic(agentId, "telemetry"),
  /** server → agent: CBOR TelemetryAck, sent once a batch is committed to KV */
  telemetryAck: (agentId: string) => agentTopic(agentId, "ack"),
  /** agent → server: "online" / "offline" (retained, also the agent's last will) */
  agentStatus: (agentId: string) => agentTopic(agentId, "status"),
  /** subscription filters used by the server */
  allTelemetry: `${TOPIC_ROOT}/agents/+/telemetry`,
  allAgentStatus: `${TOPIC_ROOT}/agents/+/status`,
};

/** Pull the agent id out of a concrete agent topic, or null if it is not one. */
export function agentIdFromTopic(topic: string): string | null {
  const parts = topic.split("/");
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT || parts[2] !== "agents") return null;
  return AGENT_ID.test(parts[3]) ? parts[3] : null;
}

/** MQTT 5 / Mosquitto / EMQX shared subscription, spreading messages over server instances. */
export function sharedSubscription(group: string, filter: string): string {
  return `$share/${group}/${filter}`;
}

/** MQTT filter matching (`+` one level, `#` the rest), for routing messages to handlers. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.startsWith("$share/") ? filter.split("/").slice(2).join("/") : filter;
  const fp = f.split("/");
  const tp = topic.split("/");
  for (let i = 0; i < fp.length; i++) {
    if (fp[i] === "#") return true;
    if (i >= tp.length) return false;
    if (fp[i] !== "+" && fp[i] !== tp[i]) return false;
  }
  return fp.length === tp.length;
}
