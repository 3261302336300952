import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import type { Command, Option } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../../src/cli.js";
import { ROOT } from "./cli.js";

// Issue 11, "Flags from one source": README's flag tables cannot drift from --help. Each table under
// "## Flags" is captioned with the commands it covers, "Sending (add, delete, sync, undo):"; every flag
// --help shows must be in a table covering that command, every flag a table names must exist on one of
// its commands, and a default the README states must be the one --help states.

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

/** A default as the README states it: "(default X", "(default: X" or "`X` (default)"; its first word. */
function readmeDefault(meaning: string): string | undefined {
  const m = /\(default:? `?([^`;,:)\s]+)/.exec(meaning) ?? /`([^`]+)` \(default\)/.exec(meaning);
  return m?.[1];
}

/** The default --help shows: commander's, or the one its description states as "(default: X". */
function helpDefault(option: Option): string | undefined {
  if (typeof option.defaultValue === "string") return option.defaultValue;
  return /\(default: ([^;,)\s]+)/.exec(option.description)?.[1];
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

  it("a default the README states is the one --help states, and commander's defaults are all stated", () => {
    const wrong: string[] = [];
    for (const t of tables) {
      for (const [flag, meaning] of t.rows) {
        const stated = readmeDefault(meaning);
        for (const name of t.commands) {
          const option = cmds.find((c) => c.name() === name)?.options.find((o) => o.long === flag);
          if (option === undefined) continue;
          const help = helpDefault(option);
          if (stated !== undefined && stated !== help) wrong.push(`${name} ${flag}: README ${stated}, --help ${String(help)}`);
          if (stated === undefined && typeof option.defaultValue === "string")
            wrong.push(`${name} ${flag}: README states no default, --help ${help}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it("the checker sees a drift: a wrong default and an unknown flag are caught", () => {
    expect(readmeDefault("requests in flight (default 8)")).toBe("8");
    expect(readmeDefault("`auto` (default), `tty`")).toBe("auto");
    expect(readmeDefault("largest body (default: 500000)")).toBe("500000");
    expect(readmeDefault("the column holding the person")).toBeUndefined();
    const concurrency = visible(cmds.find((c) => c.name() === "add") as Command).find((o) => o.long === "--concurrency") as Option;
    expect(helpDefault(concurrency)).toBe("8");
    expect(readmeDefault("requests in flight (default 9)")).not.toBe(helpDefault(concurrency));
  });
});
