import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import type { CommandUnknownOpts as Command, Option } from "@commander-js/extra-typings";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli.js";
import { ROOT } from "./cli.js";

// Issue 11, "Flags from one source": README's flag tables cannot drift from --help. Each table under
// "## Flags" is captioned with the commands it covers, "Sending (add, delete, sync, undo):"; every flag
// --help shows must be in a table covering that command, every flag a table names must exist on one of
// its commands, and on every command a row covers, the row must state the default, the environment
// variables and the HTTP statuses that command's --help line states (rendered by cio-rel's own help).

/** The commands as commander registers them, built in process (no output is written). */
function commands(): readonly Command[] {
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  const program = buildProgram({ argv: [], env: {}, stdin: new PassThrough(), stdout: sink, stderr: sink, cwd: ROOT }, () => undefined);
  return program.commands;
}

/** One README flag table: the commands its caption names, and per long flag the row's meaning. */
interface FlagTable {
  caption: string;
  commands: string[];
  rows: Map<string, string>;
}

/** The flag tables of README's "## Flags" section, each with the command list of the caption above it. */
function readmeTables(): FlagTable[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("\n## Flags\n");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const tables: FlagTable[] = [];
  let caption = "";
  let table: FlagTable | undefined;
  for (const line of section.split("\n")) {
    if (/^\|\s*flag\s*\|/.test(line)) {
      const names = /\(([a-z]+(?:, [a-z]+)*)[;)]/.exec(caption)?.[1];
      table = { caption, commands: names === undefined ? [] : names.split(", "), rows: new Map() };
      tables.push(table);
    } else if (table !== undefined && line.startsWith("| `")) {
      const [flagCell = "", meaning = ""] = line.slice(1).split(/(?<!\\)\|/);
      for (const m of flagCell.matchAll(/`(--[a-z-]+)/g)) table.rows.set(m[1] as string, meaning);
    } else if (!line.startsWith("|")) {
      table = undefined;
      if (line.trim() !== "") caption = line;
    }
  }
  return tables;
}

/** A default as a text states it, "(default X", "(default: X", "(default `X`" or "`X` (default)": its first word and, after "else", its fallback. */
function statedDefault(text: string): string | undefined {
  // Backticks, quotes and case are typography: `UTF-8` in README is utf-8 in --help.
  const plain = text.replace(/[`"]/g, "").toLowerCase();
  const m = /\(default:? ([^;,:)\s]+)(?:[^)]*?, else ([^;,:)\s]+))?/.exec(plain);
  if (m !== null) return m[2] !== undefined ? `${m[1]} else ${m[2]}` : m[1];
  return /`([^`]+)` \(default\)/.exec(text)?.[1]?.toLowerCase();
}

/** The environment variables a text names: $CIO_REGION, `$DATABASE_URL`, ... */
function envNames(text: string): string[] {
  return [...new Set([...text.matchAll(/\$([A-Z][A-Z0-9_]+)/g)].map((m) => m[1] as string))].sort();
}

/** The HTTP statuses a text names (408, 429, 5xx): what --max-retries retries must read the same in both. */
function statuses(text: string): string[] {
  return [...new Set([...text.matchAll(/\b[1-5](?:\d\d|xx)\b/g)].map((m) => m[0]))].sort();
}

/** An option's line in --help as cio-rel renders it (defaults and environment variables included). */
function helpText(cmd: Command, option: Option): string {
  return cmd.createHelp().optionDescription(option);
}

const visible = (cmd: Command): Option[] => cmd.options.filter((o) => !o.hidden && o.long !== undefined);

describe("README flag tables agree with --help", () => {
  const tables = readmeTables();
  const cmds = commands();

  it("every table names the commands it covers, and they exist", () => {
    expect(tables.length).toBeGreaterThan(3);
    for (const t of tables) {
      expect(t.commands.length, t.caption).toBeGreaterThan(0);
      for (const name of t.commands)
        expect(
          cmds.map((c) => c.name()),
          t.caption,
        ).toContain(name);
    }
  });

  it.each(commands().map((c) => c.name()))("%s: every flag --help shows is in a table covering it", (name) => {
    const cmd = cmds.find((c) => c.name() === name) as Command;
    const documented = new Set(tables.filter((t) => t.commands.includes(name)).flatMap((t) => [...t.rows.keys()]));
    const missing = visible(cmd)
      .map((o) => o.long as string)
      .filter((flag) => !documented.has(flag));
    expect(missing).toEqual([]);
  });

  it("every flag a table names exists on one of its commands", () => {
    const unknown: string[] = [];
    for (const t of tables) {
      for (const flag of t.rows.keys()) {
        const has = t.commands.some((name) => cmds.find((c) => c.name() === name)?.options.some((o) => o.long === flag && !o.hidden));
        if (!has) unknown.push(`${flag} (${t.caption})`);
      }
    }
    expect(unknown).toEqual([]);
  });

  it("every row states the default and the environment variables --help states, on every command it covers", () => {
    const wrong: string[] = [];
    for (const t of tables) {
      for (const [flag, meaning] of t.rows) {
        for (const name of t.commands) {
          const cmd = cmds.find((c) => c.name() === name) as Command;
          const option = cmd.options.find((o) => o.long === flag);
          if (option === undefined) continue;
          const help = helpText(cmd, option);
          if (statedDefault(help) !== statedDefault(meaning))
            wrong.push(`${name} ${flag}: README ${String(statedDefault(meaning))}, --help ${String(statedDefault(help))}`);
          if (statuses(help).join() !== statuses(meaning).join())
            wrong.push(`${name} ${flag}: README names statuses ${statuses(meaning).join() || "none"}, --help ${statuses(help).join() || "none"}`);
          if (envNames(help).join() !== envNames(meaning).join())
            wrong.push(`${name} ${flag}: README names ${envNames(meaning).join() || "no variable"}, --help ${envNames(help).join() || "none"}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it("options read from the environment say so in --help, and no secret is one of them", () => {
    for (const cmd of cmds) {
      for (const option of visible(cmd)) {
        if (option.envVar === undefined) continue;
        expect(helpText(cmd, option), `${cmd.name()} ${option.long}`).toContain(`$${option.envVar}`);
        expect(option.envVar).not.toMatch(/KEY|SITE_ID|PASSWORD|DATABASE_URL/);
      }
    }
  });

  it("the checker sees a drift: a wrong default, a missing variable and an unknown flag are caught", () => {
    expect(statedDefault("requests in flight (default 8)")).toBe("8");
    expect(statedDefault("`auto` (default), `tty`")).toBe("auto");
    expect(statedDefault("largest body (default: 500000)")).toBe("500000");
    expect(statedDefault("us or eu (default `$CIO_REGION`, else `us`)")).toBe("$cio_region else us");
    expect(statedDefault("the column holding the person")).toBeUndefined();
    expect(statuses("retries on 408, 429, 5xx, timeouts")).not.toEqual(statuses("retries on 408, 429, 500, 502, 503, 504, timeouts"));
    const add = cmds.find((c) => c.name() === "add") as Command;
    const concurrency = visible(add).find((o) => o.long === "--concurrency") as Option;
    expect(statedDefault(helpText(add, concurrency))).toBe("8");
    expect(statedDefault("requests in flight (default 9)")).not.toBe(statedDefault(helpText(add, concurrency)));
    const region = visible(add).find((o) => o.long === "--region") as Option;
    expect(helpText(add, region)).toBe("us or eu (default: $CIO_REGION, else us)");
    expect(envNames("`https://track.customer.io` (default `us`)")).not.toEqual(envNames(helpText(add, region)));
  });
});
