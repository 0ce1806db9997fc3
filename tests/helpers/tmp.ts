/** A temporary directory removed after `fn`, for real KV files, spools and images. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "meterfleet-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** A real KV file in a temporary directory, closed and removed after `fn`. */
export async function withKv<T>(fn: (kv: Deno.Kv) => Promise<T>): Promise<T> {
  return await withTempDir(async (dir) => {
    const kv = await Deno.openKv(`${dir}/kv.sqlite`);
    try {
      return await fn(kv);
    } finally {
      kv.close();
    }
  });
}
