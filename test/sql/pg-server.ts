import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/** Where Debian/Ubuntu put the server binaries, one folder per major version. */
const PG_LIB = "/usr/lib/postgresql";

/** The role whose password the tests know; every other role connects without one (trust). */
export const PASSWORD_ROLE = { user: "cio_secret_role", password: "pw-Zq81xv-do-not-leak" };

/** A throwaway PostgreSQL cluster on 127.0.0.1 (issue 17: tests run against a real server). */
export interface PgServer {
  port: number;
  /** The superuser connects without a password (trust on 127.0.0.1). */
  url(options?: { user?: string; password?: string; database?: string }): string;
  /** Runs SQL as the superuser and returns the rows. */
  query<T extends Record<string, unknown>>(sql: string): Promise<T[]>;
  /** The psql binary of the same version (for \copy exports). */
  psql: string;
  stop(): Promise<void>;
}

/**
 * The newest installed server's bin folder. Throws, never skips, when there is none: a test suite that silently
 * skips its database tests would pass without testing anything.
 */
export function findPgBin(): string {
  const versions = existsSync(PG_LIB) ? readdirSync(PG_LIB).filter((v) => existsSync(join(PG_LIB, v, "bin", "initdb"))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) {
    throw new Error(`PostgreSQL server binaries not found under ${PG_LIB}/*/bin (initdb, pg_ctl): install them, e.g. apt-get install -y postgresql`);
  }
  return join(PG_LIB, newest, "bin");
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Runs a server binary as the `postgres` user when we are root (the server refuses to run as root). */
function asPostgres(bin: string, args: readonly string[]): void {
  const root = process.getuid?.() === 0;
  const quoted = [bin, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  const r = root ? spawnSync("su", ["postgres", "-s", "/bin/sh", "-c", quoted], { encoding: "utf8" }) : spawnSync(bin, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(" ")} failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
}

/**
 * initdb in a temp folder owned by `postgres`, trust on 127.0.0.1 except PASSWORD_ROLE (scram-sha-256), started
 * with pg_ctl on a free port; stop() stops it and removes the folder.
 */
export async function startPgServer(): Promise<PgServer> {
  const bin = findPgBin();
  const dir = mkdtempSync(join(tmpdir(), "cio-rel-pg-"));
  const data = join(dir, "data");
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    chownSync(dir, uid, gid);
  }
  asPostgres(join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
  const hba = ["local all all trust", `host all ${PASSWORD_ROLE.user} 127.0.0.1/32 scram-sha-256`, "host all all 127.0.0.1/32 trust"].join("\n");
  writeFileSync(join(data, "pg_hba.conf"), hba + "\n");
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  asPostgres(join(bin, "pg_ctl"), ["start", "-w", "-t", "60", "-D", data, "-l", join(dir, "server.log"), "-o", options]);

  const url: PgServer["url"] = (o = {}) => {
    const user = encodeURIComponent(o.user ?? "postgres");
    const password = o.password !== undefined ? `:${encodeURIComponent(o.password)}` : "";
    return `postgres://${user}${password}@127.0.0.1:${port}/${o.database ?? "postgres"}`;
  };
  const query = async <T extends Record<string, unknown>>(sql: string): Promise<T[]> => {
    const client = new pg.Client({ connectionString: url() });
    await client.connect();
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    try {
      asPostgres(join(bin, "pg_ctl"), ["stop", "-m", "immediate", "-w", "-D", data]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await query(`create role ${PASSWORD_ROLE.user} login password '${PASSWORD_ROLE.password}'`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, url, query, psql: join(bin, "psql"), stop };
}
