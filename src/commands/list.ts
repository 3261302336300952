// `cio-rel list` and `cio-rel types` (issue 12): read what the workspace holds through the App API and
// write it in a form `add` and `delete` read back with no mapping flags.
import { once } from "node:events";
import { open } from "node:fs/promises";
import { resolve } from "node:path";
import { checkOutputs, OUTPUT_MODE, WRITE_FLAGS } from "../report/outputs.js";
import { EXIT, InputError, UsageError } from "../errors.js";
import { openRowSource } from "../input/open.js";
import { ColumnError, createMapper, DEFAULT_OBJECT_TYPE } from "../model/mapping.js";
import { PERSON_KEYS, type ObjectRef, type PersonKey, type PersonRef } from "../model/types.js";
import { csvField } from "../report/failures-file.js";
import { formatCount, formatDuration } from "../report/format.js";
import { VERSION } from "../version.js";
import {
  createAppClient,
  APP_RATE,
  type AppClient,
  type ListedObject,
  type ListedObjectRef,
  type ListedPerson,
  type Listing,
  type ObjectTypeInfo,
} from "../workspace/client.js";
import { readAppApiKey, resolveAppUrl } from "../workspace/config.js";
import { isTypeId, isTypeName, matchObjectType, typeNameNeedsKey } from "../workspace/object-type.js";
import type { CommandContext } from "./context.js";
import { appConnectionDefaults, type AppConnectionFlags, type LIST_FORMATS, type ListFlags, type TypesFlags } from "./flags.js";
import { redactor } from "./secrets.js";

type OutFormat = (typeof LIST_FORMATS)[number];
/** Columns of a listed person, in this order: `add`/`delete` read them back (id, falling back to cio_id). */
const PERSON_COLUMNS = ["id", "email", "cio_id"] as const;
/** Plain progress lines at most this often on long runs. */
const PROGRESS_EVERY_MS = 2_000;

/** The --json summary of list (issue 12). */
export interface ListSummaryJson {
  command: "list";
  /** Listings asked for (objects or people given). */
  inputs: number;
  /** Distinct objects in the output (the objects listed, or the objects found for people). */
  objects: number;
  /** Distinct people in the output. */
  people: number;
  /** Rows written. */
  rows: number;
  /** Inputs the workspace does not hold (404). */
  missing: number;
  /** Inputs whose listing failed otherwise (after retries, refused, or unreadable answers). */
  failed: number;
  /** Invalid input rows (bad identifiers), reported as file:line. */
  invalid: number;
  pages: number;
  requests: number;
  retries: number;
  durationMs: number;
  exitCode: number;
}

type Target = { line: number | undefined; object: ListedObjectRef } | { line: number | undefined; person: PersonRef };
type Row = Record<string, unknown>;

/** The App API client for a command, from flags and environment; the key never from argv. */
async function openClient(ctx: CommandContext, raw: AppConnectionFlags, rate: number): Promise<{ client: AppClient; key: string }> {
  const key = await readAppApiKey(raw.appApiKeyFile, ctx.env, ctx.cwd);
  if (key === undefined)
    throw new UsageError("CIO_APP_API_KEY is not set: export it or pass --app-api-key-file <file> (an App API key, not the Track API key)");
  const baseUrl = resolveAppUrl({ region: raw.region, appUrl: raw.appUrl });
  const redact = redactor([key]);
  const client = createAppClient({
    baseUrl,
    apiKey: key,
    ratePerSecond: rate,
    timeoutMs: Math.round(raw.timeout * 1000),
    maxRetries: raw.maxRetries,
    userAgent: `cio-rel/${VERSION}`,
    ...(ctx.now !== undefined && { now: ctx.now }),
    ...(raw.verbose === true && {
      onRequest: (r) =>
        void ctx.stderr.write(
          redact(
            `${r.method} ${r.url} ${r.status ?? r.error ?? "no answer"} ${Math.round(r.ms)} ms${r.attempt > 1 ? ` (attempt ${r.attempt})` : ""}`,
          ) + "\n",
        ),
    }),
  });
  return { client, key };
}

/** The type id of --object-type: a number as is, a name looked up once in the App API. */
async function objectTypeOf(value: string | undefined, client: AppClient | undefined): Promise<string> {
  if (value === undefined) return DEFAULT_OBJECT_TYPE;
  if (isTypeId(value)) return value;
  if (!isTypeName(value)) throw new UsageError(`--object-type must be a positive integer, or a type's name or slug (got "${value}")`);
  if (client === undefined) throw typeNameNeedsKey(value);
  const r = await client.objectTypes();
  if (!r.ok) throw new UsageError(`--object-type "${value}": cannot read the workspace's object types: ${r.reason}`);
  return matchObjectType(value, r.types);
}

/**
 * Refuses an `--out` that is the input, a symlink, a directory or unwritable (issue 9's checkOutputs), before
 * anything is read or requested.
 */
async function checkOut(ctx: CommandContext, out: string | undefined, input: { flag: string; given: string } | undefined): Promise<void> {
  if (out === undefined) return;
  const named = (flag: string, given: string) => ({ flag, given, path: resolve(ctx.cwd, given) });
  await checkOutputs({ inputs: input !== undefined && input.given !== "-" ? [named(input.flag, input.given)] : [], outputs: [named("--out", out)] });
}

/** The stream a listing goes to: `--out` opened no-follow with mode 0600, else standard output. */
async function outputStream(ctx: CommandContext, out: string | undefined): Promise<NodeJS.WritableStream> {
  if (out === undefined) return ctx.stdout;
  const handle = await open(resolve(ctx.cwd, out), WRITE_FLAGS, OUTPUT_MODE);
  return handle.createWriteStream();
}

/** The listings asked for: one from --object/--person, or one per row of --objects/--people. */
async function targetsOf(
  ctx: CommandContext,
  raw: ListFlags,
  typeId: string,
  report: (line: string) => void,
): Promise<{ targets: Target[]; invalid: number; kind: "object" | "person" }> {
  const shapes = [raw.object, raw.objects, raw.person, raw.people].filter((x) => x !== undefined).length;
  if (shapes !== 1) throw new UsageError("say what to list: one of --object <id>, --objects <file>, --person <value> or --people <file>");
  if (raw.personKey !== undefined && raw.object !== undefined) throw new UsageError("--person-key goes with --person or --people");
  const personKey = raw.personKey;
  if (raw.object !== undefined) {
    if (raw.object.trim() === "") throw new UsageError("--object needs an object id");
    return { targets: [{ line: undefined, object: { typeId, id: raw.object } }], invalid: 0, kind: "object" };
  }
  if (raw.person !== undefined) {
    if (raw.person.trim() === "") throw new UsageError("--person needs a person identifier");
    return { targets: [{ line: undefined, person: { key: personKey ?? "id", value: raw.person } }], invalid: 0, kind: "person" };
  }
  const path = (raw.objects ?? raw.people) as string;
  const kind = raw.objects !== undefined ? "object" : "person";
  const format = raw.inputFormat;
  const source = await openRowSource(path, { ...(format !== undefined && { format }), stdin: ctx.stdin, cwd: ctx.cwd });
  // The mapping rules of add/delete pick the identifier column; the other side is a placeholder.
  const mapper = createMapper(
    kind === "object"
      ? { fixedPerson: { key: "id", value: "-" }, objectType: typeId, emptyRemoves: false }
      : {
          fixedObject: { typeId: DEFAULT_OBJECT_TYPE, id: "-" },
          objectType: DEFAULT_OBJECT_TYPE,
          emptyRemoves: false,
          ...(personKey !== undefined && { personKey }),
        },
    { headerless: source.headerless, names: undefined },
  );
  const targets: Target[] = [];
  // The same object or person twice in the file is listed once.
  const seen = new Set<string>();
  let invalid = 0;
  try {
    for await (const row of source.rows()) {
      const m = mapper.map(row);
      if (!m.ok) {
        invalid++;
        report(`${source.displayName}:${row.line}: ${m.reason}`);
        continue;
      }
      const r = m.relationship;
      const t: Target = kind === "person" ? { line: row.line, person: r.person } : { line: row.line, object: objectTarget(r.object, typeId) };
      const key = JSON.stringify("person" in t ? t.person : t.object);
      if (seen.has(key)) continue;
      seen.add(key);
      targets.push(t);
    }
  } catch (e) {
    if (e instanceof ColumnError) throw new InputError({ file: source.displayName, line: 1 }, e.message);
    throw e;
  }
  return { targets, invalid, kind };
}

function objectTarget(o: ObjectRef, typeId: string): ListedObjectRef {
  return "cioObjectId" in o ? { typeId, cioObjectId: o.cioObjectId } : o;
}

/** CSV cell text: strings as they are, other values as JSON. */
const cell = (v: unknown): string => (v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v));

/** Writes rows with the given columns in the chosen format. */
async function writeRows(stream: NodeJS.WritableStream, format: OutFormat, columns: readonly string[], rows: readonly Row[]): Promise<void> {
  const write = async (text: string): Promise<void> => {
    if (!stream.write(text)) await once(stream, "drain");
  };
  if (format === "csv") {
    await write(columns.map((c) => csvField(c, ",")).join(",") + "\n");
    for (const r of rows) await write(columns.map((c) => csvField(cell(r[c]), ",")).join(",") + "\n");
  } else if (format === "ndjson") {
    for (const r of rows) await write(JSON.stringify(pick(r, columns)) + "\n");
  } else {
    await write("[");
    for (let i = 0; i < rows.length; i++) await write((i === 0 ? "\n" : ",\n") + JSON.stringify(pick(rows[i] as Row, columns)));
    await write(rows.length === 0 ? "]\n" : "\n]\n");
  }
}

/** The row's values for `columns`, in that order; a missing value is null. */
function pick(r: Row, columns: readonly string[]): Row {
  const out: Row = {};
  for (const c of columns) out[c] = r[c] ?? null;
  return out;
}

/** Attribute columns as they appear, except names an identifier column already uses (those get an `attribute.` prefix). */
function attributeColumns(objects: Array<{ attributes: Record<string, unknown> }>, taken: ReadonlySet<string>): Map<string, string> {
  const cols = new Map<string, string>();
  for (const o of objects)
    for (const name of Object.keys(o.attributes)) if (!cols.has(name)) cols.set(name, taken.has(name) ? `attribute.${name}` : name);
  return cols;
}

/** `cio-rel list`: returns the exit code. */
export async function runList(ctx: CommandContext, raw: ListFlags): Promise<number> {
  const now = ctx.now ?? Date.now;
  const started = now();
  const { format, appRate: rate, concurrency, progress: progressMode } = raw;
  await checkOut(
    ctx,
    raw.out,
    raw.objects !== undefined
      ? { flag: "--objects", given: raw.objects }
      : raw.people !== undefined
        ? { flag: "--people", given: raw.people }
        : undefined,
  );
  if (raw.objects === "-" && raw.people === "-") throw new UsageError("only one input can be standard input");
  const { client, key } = await openClient(ctx, raw, rate);
  const redact = redactor([key]);
  const err = (line: string): void => void ctx.stderr.write(redact(line) + "\n");
  // Ctrl-C / SIGTERM: requests in flight are aborted, nothing new starts, what was listed is still written; exit 130.
  let interrupted = false;
  const unhook = ctx.onInterrupt?.(() => {
    interrupted = true;
    client.abort();
  });
  try {
    const typeId = await objectTypeOf(raw.objectType, client);
    const { targets, invalid, kind } = await targetsOf(ctx, raw, typeId, err);

    // Listings run `concurrency` at a time; every request of every one shares the client's 10/s limiter.
    const results = new Array<Listing<ListedPerson> | Listing<ListedObject> | undefined>(targets.length);
    let next = 0;
    let done = 0;
    let authStop: string | undefined;
    let lastProgress = now();
    const showProgress = progressMode !== "none" && raw.quiet !== true && raw.json !== true && targets.length > 1;
    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        const t = targets[i];
        if (t === undefined || authStop !== undefined || interrupted) return;
        const r = "object" in t ? await client.peopleOf(t.object) : await client.objectsOf(t.person);
        results[i] = r;
        if (!r.ok && r.kind === "auth") {
          authStop ??= r.reason;
          client.abort();
        }
        done++;
        if (showProgress && now() - lastProgress >= PROGRESS_EVERY_MS) {
          lastProgress = now();
          err(
            `list: ${formatCount(done)} of ${formatCount(targets.length)} listed, ${formatCount(client.stats.requests)} requests, ${formatDuration(now() - started)}`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, targets.length)) }, worker));

    // Rows and per-input problems.
    const many = raw.objects !== undefined || raw.people !== undefined;
    let missing = 0;
    let failed = 0;
    const rows: Row[] = [];
    const objectsSeen = new Set<string>();
    const peopleSeen = new Set<string>();
    const usedKeys = new Set<PersonKey>();
    const inputPath = raw.objects ?? raw.people;
    const inputName = inputPath === "-" ? "<stdin>" : inputPath;
    const where = (t: Target): string => (t.line === undefined ? "" : `${inputName}:${t.line}: `);
    targets.forEach((t, i) => {
      const r = results[i];
      const what =
        "object" in t
          ? "id" in t.object
            ? `object ${t.object.id} (type ${t.object.typeId})`
            : `object cio_object_id ${t.object.cioObjectId}`
          : `person ${t.person.key} ${t.person.value}`;
      if (r === undefined) {
        failed++;
        err(`cio-rel: ${where(t)}${what}: not listed: ${authStop ?? (interrupted ? "interrupted" : "stopped")}`);
        return;
      }
      if (!r.ok) {
        if (r.kind === "not-found") missing++;
        else failed++;
        if (r.kind !== "auth") err(`cio-rel: ${where(t)}${r.kind === "not-found" ? `${what} not found` : `${what}: ${r.reason}`}`);
        return;
      }
      if ("object" in t) {
        const o = t.object;
        objectsSeen.add(JSON.stringify(o));
        for (const p of r.items as ListedPerson[]) {
          peopleSeen.add(p.cio_id);
          const row: Row = { id: p.id, email: p.email, cio_id: p.cio_id };
          if (many) rows.push({ object_type_id: o.typeId, ...("id" in o ? { object_id: o.id } : { cio_object_id: o.cioObjectId }), ...row });
          else rows.push(row);
        }
      } else {
        usedKeys.add(t.person.key);
        peopleSeen.add(`${t.person.key}:${t.person.value}`);
        for (const x of r.items as ListedObject[]) {
          objectsSeen.add(`${x.object_type_id}:${x.object_id}`);
          rows.push({ [t.person.key]: t.person.value, object_type_id: x.object_type_id, object_id: x.object_id, __attributes: x.attributes });
        }
      }
    });

    let columns: string[];
    if (kind === "object") {
      const cio = rows.some((r) => r["cio_object_id"] !== undefined);
      columns = many ? ["object_type_id", cio ? "cio_object_id" : "object_id", ...PERSON_COLUMNS] : [...PERSON_COLUMNS];
    } else {
      const personCols = many ? PERSON_KEYS.filter((k) => usedKeys.has(k)) : [];
      const base = [...personCols, "object_type_id", "object_id"];
      const attrs = attributeColumns(
        rows.map((r) => ({ attributes: r["__attributes"] as Record<string, unknown> })),
        new Set([...base, ...PERSON_KEYS, "cio_object_id"]),
      );
      for (const r of rows) {
        for (const [name, value] of Object.entries(r["__attributes"] as Record<string, unknown>)) r[attrs.get(name) as string] = value;
        delete r["__attributes"];
      }
      columns = [...base, ...attrs.values()];
    }

    const stream = await outputStream(ctx, raw.out);
    await writeRows(stream, format, columns, rows);
    if (raw.out !== undefined) {
      stream.end();
      await once(stream, "finish");
    }

    // The precedence of add/delete: auth, then API trouble, then invalid rows.
    const exitCode = interrupted
      ? EXIT.interrupted
      : authStop !== undefined
        ? EXIT.auth
        : missing + failed > 0
          ? EXIT.api
          : invalid > 0
            ? EXIT.usage
            : EXIT.ok;
    if (authStop !== undefined) err(`cio-rel: ${authStop}`);
    const summary: ListSummaryJson = {
      command: "list",
      inputs: targets.length,
      objects: objectsSeen.size,
      people: peopleSeen.size,
      rows: rows.length,
      missing,
      failed,
      invalid,
      pages: client.stats.pages,
      requests: client.stats.requests,
      retries: client.stats.retries,
      durationMs: Math.round(now() - started),
      exitCode,
    };
    if (raw.json === true) {
      // The listing may own stdout; the summary then goes to stderr.
      (raw.out !== undefined ? ctx.stdout : ctx.stderr).write(JSON.stringify(summary) + "\n");
    } else if (raw.quiet !== true) {
      const listed =
        kind === "object"
          ? `${formatCount(summary.objects)} object${summary.objects === 1 ? "" : "s"}: ${formatCount(summary.people)} people`
          : `${formatCount(summary.people)} ${summary.people === 1 ? "person" : "people"}: ${formatCount(summary.objects)} objects`;
      const problems = [
        missing > 0 ? `${missing} not found` : "",
        failed > 0 ? `${failed} failed` : "",
        invalid > 0 ? `${invalid} invalid` : "",
      ].filter((s) => s !== "");
      err(
        `listed ${listed}, ${formatCount(rows.length)} rows in ${formatCount(summary.pages)} pages ` +
          `(${formatCount(summary.requests)} requests, ${formatDuration(summary.durationMs)})${problems.length > 0 ? `; ${problems.join(", ")}` : ""}`,
      );
    }
    return exitCode;
  } finally {
    unhook?.();
    await client.close();
  }
}

/** `cio-rel types`: the workspace's object types (id, name, slug). */
export async function runTypes(ctx: CommandContext, raw: TypesFlags): Promise<number> {
  const format = raw.format;
  await checkOut(ctx, raw.out, undefined);
  const { client, key } = await openClient(ctx, raw, APP_RATE);
  try {
    const r = await client.objectTypes();
    if (!r.ok) {
      ctx.stderr.write(redactor([key])(`cio-rel: ${r.reason}`) + "\n");
      return r.kind === "auth" ? EXIT.auth : EXIT.api;
    }
    const rows = r.types.map((t: ObjectTypeInfo) => ({ id: t.id, name: t.name, slug: t.slug }));
    const stream = await outputStream(ctx, raw.out);
    await writeRows(stream, format, ["id", "name", "slug"], rows);
    if (raw.out !== undefined) {
      stream.end();
      await once(stream, "finish");
    }
    return EXIT.ok;
  } finally {
    await client.close();
  }
}

/**
 * `--object-type <name>` on add/delete/validate: resolved to its id once per run when an App API key is
 * there; a name without a key is a usage error. Returns the id (or undefined when the flag is absent).
 */
export async function resolveObjectTypeName(
  ctx: CommandContext,
  raw: { objectType?: string; appApiKeyFile?: string; appUrl?: string; region?: string },
): Promise<string | undefined> {
  const value = raw.objectType;
  // Numbers, good or bad, are left to the usual --object-type check.
  if (value === undefined || !isTypeName(value)) return value;
  const key = await readAppApiKey(raw.appApiKeyFile, ctx.env, ctx.cwd);
  if (key === undefined) throw typeNameNeedsKey(value);
  // The App API's own defaults (--timeout, --max-retries), under the key, URL and region the command was given.
  const { client } = await openClient(
    ctx,
    {
      ...appConnectionDefaults(),
      ...(raw.appApiKeyFile !== undefined && { appApiKeyFile: raw.appApiKeyFile }),
      ...(raw.appUrl !== undefined && { appUrl: raw.appUrl }),
      // validate has no --region: the environment's, as the App API commands read it.
      ...(raw.region !== undefined ? { region: raw.region } : ctx.env.CIO_REGION?.trim() ? { region: ctx.env.CIO_REGION } : {}),
    },
    APP_RATE,
  );
  try {
    return await objectTypeOf(value, client);
  } finally {
    await client.close();
  }
}
