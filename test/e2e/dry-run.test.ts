import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli, tempDir } from "./cli.js";

/** The batch bodies a dry run wrote with --out, parsed. */
function bodies(path: string): { batch: Record<string, unknown>[] }[] {
  const text = readFileSync(path, "utf8");
  expect(text.endsWith("\n")).toBe(true);
  return text
    .trimEnd()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as { batch: Record<string, unknown>[] });
}

/** Runs a dry run with --json and --out, returning the summary and the bodies. */
async function dryRun(args: string[], stdin?: string) {
  const out = join(tempDir(), "batches.ndjson");
  const r = await runCli([...args, "--dry-run", "--json", "--out", out], stdin !== undefined ? { stdin } : {});
  const summary = JSON.parse(r.stdout) as Record<string, unknown>;
  return { r, summary, out, bodies: bodies(out) };
}

const MEMBERSHIP_FLAGS = ["--person-column", "user_id", "--object-column", "account_id", "--attributes", "role"];

describe("dry run end to end (issue 2)", () => {
  it("one object, many people: one object operation with every person", async () => {
    const { r, summary, bodies: b } = await dryRun(["add", "--object", "acme", "--people", "fixtures/people.csv"]);
    expect(r.code).toBe(0);
    expect(summary).toMatchObject({
      command: "add",
      dryRun: true,
      rows: 8,
      invalid: 0,
      duplicate: 0,
      relationships: 8,
      operations: 1,
      batches: 1,
      exitCode: 0,
    });
    expect(b).toHaveLength(1);
    expect(b[0]!.batch).toEqual([
      {
        type: "object",
        identifiers: { object_type_id: "1", object_id: "acme" },
        action: "add_relationships",
        cio_relationships: ["1001", "1002", "1003", "1004", "1005", "1006", "1007", "1008"].map((id) => ({ identifiers: { id } })),
      },
    ]);
  });

  it("people by email with an attribute: empty cells leave the attribute out", async () => {
    const { r, bodies: b } = await dryRun([
      "add",
      "--object",
      "acme",
      "--object-type",
      "3",
      "--people",
      "fixtures/people-emails.csv",
      "--attributes",
      "role",
    ]);
    expect(r.code).toBe(0);
    const op = b[0]!.batch[0] as { identifiers: unknown; cio_relationships: unknown[] };
    expect(op.identifiers).toEqual({ object_type_id: "3", object_id: "acme" });
    expect(op.cio_relationships[0]).toEqual({ identifiers: { email: "ada@example.com" }, relationship_attributes: { role: "owner" } });
    expect(op.cio_relationships[4]).toEqual({ identifiers: { email: "edsger@example.com" } });
  });

  it("--empty-removes sends an empty cell as null", async () => {
    const { bodies: b } = await dryRun([
      "add",
      "--object",
      "acme",
      "--people",
      "fixtures/people-emails.csv",
      "--attributes",
      "role",
      "--empty-removes",
    ]);
    const op = b[0]!.batch[0] as { cio_relationships: unknown[] };
    expect(op.cio_relationships[4]).toEqual({ identifiers: { email: "edsger@example.com" }, relationship_attributes: { role: null } });
  });

  it("one person, many objects: a person operation, object types from the column", async () => {
    const { r, bodies: b } = await dryRun(["add", "--person", "1001", "--objects", "fixtures/objects.csv", "--attributes", "plan"]);
    expect(r.code).toBe(0);
    expect(b[0]!.batch).toEqual([
      {
        type: "person",
        identifiers: { id: "1001" },
        action: "add_relationships",
        cio_relationships: [
          { identifiers: { object_type_id: "1", object_id: "acme" }, relationship_attributes: { plan: "enterprise" } },
          { identifiers: { object_type_id: "1", object_id: "globex" }, relationship_attributes: { plan: "startup" } },
          { identifiers: { object_type_id: "1", object_id: "initech" }, relationship_attributes: { plan: "startup" } },
          { identifiers: { object_type_id: "2", object_id: "umbrella" } },
        ],
      },
    ]);
  });

  it("many-to-many: CSV, JSON and NDJSON give byte-identical bodies", async () => {
    const runs = await Promise.all(
      ["csv", "json", "ndjson"].map((ext) => dryRun(["add", "--file", `fixtures/memberships.${ext}`, ...MEMBERSHIP_FLAGS])),
    );
    for (const { r, summary } of runs) {
      expect(r.code).toBe(0);
      // auto grouping: 3 accounts make fewer operations than 8 people.
      expect(summary).toMatchObject({ rows: 9, relationships: 9, operations: 3, batches: 1 });
    }
    const texts = runs.map(({ out }) => readFileSync(out, "utf8"));
    expect(texts[1]).toBe(texts[0]);
    expect(texts[2]).toBe(texts[0]);
    const ops = runs[0]!.bodies[0]!.batch as { identifiers: { object_id: string }; cio_relationships: unknown[] }[];
    expect(ops.map((o) => o.identifiers.object_id)).toEqual(["acme", "globex", "initech"]);
    expect(ops[2]!.cio_relationships[2]).toEqual({ identifiers: { id: "1008" }, relationship_attributes: { role: "member, billing" } });
  });

  it("--group-by person makes one operation per person", async () => {
    const { summary, bodies: b } = await dryRun(["add", "--file", "fixtures/memberships.csv", ...MEMBERSHIP_FLAGS, "--group-by", "person"]);
    expect(summary).toMatchObject({ relationships: 9, operations: 8 });
    const first = b[0]!.batch[0] as { type: string; identifiers: unknown; cio_relationships: unknown[] };
    expect(first.type).toBe("person");
    expect(first.identifiers).toEqual({ id: "1001" });
    expect(first.cio_relationships).toHaveLength(2);
  });

  it("delete: the same shapes with delete_relationships and no attributes, and never asks in a dry run", async () => {
    const { r, bodies: b } = await dryRun(["delete", "--file", "fixtures/memberships.csv", ...MEMBERSHIP_FLAGS]);
    expect(r.code).toBe(0);
    const ops = b[0]!.batch as { action: string; cio_relationships: Record<string, unknown>[] }[];
    expect(ops.every((o) => o.action === "delete_relationships")).toBe(true);
    expect(ops.flatMap((o) => o.cio_relationships).some((rel) => "relationship_attributes" in rel)).toBe(false);
  });

  it("a plain list of ids (.txt) just works", async () => {
    const { r, summary, bodies: b } = await dryRun(["add", "--object", "acme", "--people", "fixtures/ids.txt"]);
    expect(r.code).toBe(0);
    expect(summary).toMatchObject({ rows: 4, relationships: 4 });
    expect((b[0]!.batch[0] as { cio_relationships: unknown[] }).cio_relationships).toEqual(
      ["1001", "1002", "1003", "1004"].map((id) => ({ identifiers: { id } })),
    );
  });

  it("reads stdin with --format, and collapses a repeated pair (later attributes win)", async () => {
    const csv = "id,role\n7,member\n8,member\n7,owner\n";
    const { r, summary, bodies: b } = await dryRun(["add", "--object", "acme", "--people", "-", "--format", "csv", "--attributes", "role"], csv);
    expect(r.code).toBe(0);
    expect(summary).toMatchObject({ rows: 3, duplicate: 1, relationships: 2 });
    const rels = (b[0]!.batch[0] as { cio_relationships: unknown[] }).cio_relationships;
    expect(rels).toContainEqual({ identifiers: { id: "7" }, relationship_attributes: { role: "owner" } });
    expect(rels).not.toContainEqual({ identifiers: { id: "7" }, relationship_attributes: { role: "member" } });
  });

  it("invalid rows are never sent, are named with file and line, and exit 2", async () => {
    const { r, summary, bodies: b } = await dryRun(["add", "--object", "acme", "--people", "fixtures/bad-rows.csv"]);
    expect(r.code).toBe(2);
    expect(summary).toMatchObject({ rows: 4, invalid: 2, relationships: 2, exitCode: 2 });
    const rels = (b[0]!.batch[0] as { cio_relationships: unknown[] }).cio_relationships;
    expect(rels).toEqual([{ identifiers: { email: "ada@example.com" } }, { identifiers: { email: "grace@example.com" } }]);
  });

  it("prints the plan for people", async () => {
    const r = await runCli(["add", "--object", "acme", "--people", "fixtures/people.csv", "--dry-run"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/dry run/i);
    for (const [label, value] of [
      ["rows read", "8"],
      ["valid", "8"],
      ["invalid", "0"],
      ["duplicate", "0"],
      ["relationships", "8"],
      ["operations", "1"],
      ["batches", "1"],
      ["bytes", "376 B"],
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^  ${label} +${value}$`, "m"));
    }
  });

  it.each([
    [["--object", "acme", "--people", "fixtures/bad-unclosed-quote.csv"], /fixtures\/bad-unclosed-quote\.csv:2\b/],
    [["--file", "fixtures/bad-broken.json", "--person-column", "user_id", "--object-column", "account_id"], /fixtures\/bad-broken\.json:3:\d+/],
    [["--file", "fixtures/bad-broken.ndjson", "--person-column", "user_id", "--object-column", "account_id"], /fixtures\/bad-broken\.ndjson:2:\d+/],
  ])("a malformed file is an error naming file and line, exit 2: %j", async (flags, pattern) => {
    const r = await runCli(["add", ...flags, "--dry-run"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace without --debug
  });

  it.each([
    [["add", "--people", "fixtures/people.csv", "--dry-run"], /--people needs --object/],
    [["add", "--object", "acme", "--dry-run"], /--object needs --people/],
    [
      ["add", "--object", "acme", "--person", "1", "--people", "x.csv", "--dry-run"],
      /option '--object <object_id>' cannot be used with option '--person <value>'/,
    ],
    [["add", "--object", "acme", "--people", "fixtures/people.csv", "--group-by", "nope", "--dry-run"], /--group-by must be one of/],
    [["add", "--object", "acme", "--people", "fixtures/people.csv"], /CIO_SITE_ID is not set/],
    [["add", "--object", "acme", "--people", "fixtures/missing.csv", "--dry-run"], /fixtures\/missing\.csv/],
    [["add", "--file", "fixtures/memberships.csv", "--dry-run"], /person column/],
    [["add", "--object", "acme", "--people", "fixtures/people.csv", "--object-type", "0", "--dry-run"], /--object-type must be a positive integer/],
    [["add", "--object", "acme", "--people", "fixtures/people.csv", "--bogus"], /unknown option/],
  ])("usage errors exit 2 with one clear line: %j", async (args, pattern) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(pattern);
  });
});
