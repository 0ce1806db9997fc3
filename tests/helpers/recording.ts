/** A poller wrapper that remembers every reading it produced, to check later that KV holds each exactly once. */
import type { Poller, PollerSink } from "../../edge-agent/drivers/poller.ts";

export class RecordingPoller implements Poller {
  readonly produced = new Set<string>();
  readonly name: string;
  constructor(private inner: Poller) {
    this.name = `recording(${inner.name})`;
  }
  start(sink: PollerSink) {
    return this.inner.start({
      reading: (r) => {
        this.produced.add(`${r.deviceId}@${r.ts}`);
        sink.reading(r);
      },
      event: (e) => sink.event(e),
    });
  }
  stop() {
    return this.inner.stop();
  }
}
