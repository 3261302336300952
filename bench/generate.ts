// The generated inputs of the benchmarks (issue 16): membership rows `user_id,account_id,role`, sorted by
// account and the same lines shuffled, with the true optimum counted apart from cio-rel's planner.
import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { seededRandom } from "../test/fake-track-api/faults.js";

const MAX_BATCH = 500_000;
const MAX_OP = 32_000;

const ROLES = ["member", "member", "member", "admin", "owner", "viewer", "billing"];

/** One generated relationship. */
interface Membership {
  person: number;
  account: number;
  role: string;
}

/**
 * Membership rows `user_id,account_id,role` sorted by account: accounts of 1 to 121 members (skewed small,
 * mean ≈ 41), people drawn so that a person belongs to about two accounts and never twice to one.
 */
function* memberships(rows: number): Generator<Membership> {
  const rand = seededRandom(6);
  const people = Math.max(1, Math.floor(rows / 2));
  let account = 0;
  let left = 0;
  for (let i = 0; i < rows; i++) {
    if (left === 0) {
      account++;
      const r = rand();
      left = 1 + Math.floor(r * r * 120);
    }
    left--;
    yield { person: (i * 7919 + 13) % people, account, role: ROLES[Math.floor(rand() * ROLES.length)] as string };
  }
}

/** Bytes of the JSON cio-rel must send, computed here from the relationships with JSON.stringify alone. */
export interface Truth {
  /** ⌈bytes of the cheaper whole grouping / 500,000⌉: every account's relationships together, or every person's. */
  optimum: number;
  optimumBytes: number;
  groupedBy: "object" | "person";
  /** One relationship per operation. */
  naive: number;
}

// JSON.stringify of each shape with an empty id, once; an id (ASCII, nothing to escape) adds its length. Exact,
// and fast enough for 5,000,000 rows.
const objectIds = (id: string): object => ({ object_type_id: "1", object_id: id });
const personIds = (id: string): object => ({ id });
const opBase = (type: "object" | "person", identifiers: object): number =>
  JSON.stringify({ type, identifiers, action: "add_relationships", cio_relationships: [] }).length;
const entryBase = (identifiers: object, role: string | undefined): number =>
  JSON.stringify(role === undefined ? { identifiers } : { identifiers, relationship_attributes: { role } }).length;
const memo = new Map<string, number>();
const cached = (key: string, f: () => number): number => {
  let n = memo.get(key);
  if (n === undefined) memo.set(key, (n = f()));
  return n;
};
/** An operation's bytes with no relationship in it. */
const emptyOp = (type: "object" | "person", id: string): number =>
  cached(`op ${type}`, () => opBase(type, type === "object" ? objectIds("") : personIds(""))) + id.length;
/** One relationship entry's bytes: in an object's operation it names the person, in a person's the object. */
const entry = (type: "object" | "person", otherId: string, role: string | undefined): number =>
  cached(`entry ${type} ${role ?? ""}`, () => entryBase(type === "object" ? personIds("") : objectIds(""), role)) + otherId.length;

/** Adds up both whole groupings (operations cut at 32,000 bytes) and the naive one, for one attribute setting. */
class TruthCounter {
  readonly #attrs: boolean;
  #objectBytes = 0;
  #openAccount = -1;
  #openOp = 0;
  #personEntries = 0;
  readonly #people: Uint8Array;
  #personHeads = 0;
  #personOps = 0;
  #rels = 0;
  #naiveBytes = 0;

  constructor(rows: number, attrs: boolean) {
    this.#attrs = attrs;
    this.#people = new Uint8Array(Math.max(1, Math.floor(rows / 2)));
  }

  add(m: Membership): void {
    const role = this.#attrs ? m.role : undefined;
    const personId = `u${m.person}`;
    const accountId = `acct_${m.account}`;
    const objectEntry = entry("object", personId, role);
    // By object: rows come sorted by account; an operation grows until the next entry would pass 32,000 bytes.
    if (m.account !== this.#openAccount || this.#openOp + 1 + objectEntry > MAX_OP) this.#closeObjectOp(m.account, accountId, objectEntry);
    else this.#openOp += 1 + objectEntry;
    // By person: every person's entries plus one head per distinct person (a person has a few accounts: no cut).
    this.#personEntries += entry("person", accountId, role);
    if (this.#people[m.person] === 0) {
      this.#people[m.person] = 1;
      this.#personHeads += emptyOp("person", personId);
      this.#personOps++;
    }
    this.#naiveBytes += emptyOp("object", accountId) + objectEntry + 1;
    this.#rels++;
  }

  #closeObjectOp(account: number, accountId: string, firstEntry: number): void {
    if (this.#openAccount !== -1) this.#objectBytes += this.#openOp + 1;
    this.#openAccount = account;
    this.#openOp = emptyOp("object", accountId) + firstEntry;
  }

  truth(): Truth {
    const objectBytes = this.#objectBytes + this.#openOp;
    // Entries within an operation and operations within a batch are joined by commas.
    const personBytes = this.#personHeads + this.#personEntries + (this.#rels - this.#personOps) + (this.#personOps - 1);
    const [bytes, groupedBy] = objectBytes <= personBytes ? [objectBytes, "object" as const] : [personBytes, "person" as const];
    return { optimum: Math.ceil(bytes / MAX_BATCH), optimumBytes: bytes, groupedBy, naive: Math.ceil((this.#naiveBytes - 1) / MAX_BATCH) };
  }
}

export interface Inputs {
  sorted: string;
  shuffled: string;
  truth: { plain: Truth; role: Truth };
  bytes: number;
}

/** Writes the sorted file and the same lines shuffled (a seeded permutation), and counts the true optimum. */
export function generate(dir: string, rows: number): Inputs {
  const plain = new TruthCounter(rows, false);
  const role = new TruthCounter(rows, true);
  const header = Buffer.from("user_id,account_id,role\n");
  // All lines in one buffer with their offsets: a 5M-row file is ~130 MB, far less than 5M strings.
  let buf = Buffer.allocUnsafe(rows * 32 + 64);
  const offsets = new Uint32Array(rows + 1);
  let pos = 0;
  let i = 0;
  for (const m of memberships(rows)) {
    plain.add(m);
    role.add(m);
    const line = `u${m.person},acct_${m.account},${m.role}\n`;
    if (pos + line.length > buf.length) {
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, pos);
      buf = bigger;
    }
    offsets[i++] = pos;
    pos += buf.write(line, pos, "latin1");
  }
  offsets[rows] = pos;
  const sorted = join(dir, `memberships-${rows}-sorted.csv`);
  writeFileSync(sorted, Buffer.concat([header, buf.subarray(0, pos)]));
  const order = new Uint32Array(rows);
  for (let k = 0; k < rows; k++) order[k] = k;
  const rand = seededRandom(7);
  for (let k = rows - 1; k > 0; k--) {
    const j = Math.floor(rand() * (k + 1));
    const t = order[k] as number;
    order[k] = order[j] as number;
    order[j] = t;
  }
  const shuffled = join(dir, `memberships-${rows}-shuffled.csv`);
  const fd = openSync(shuffled, "w");
  const out = Buffer.allocUnsafe(1 << 20);
  let o = header.copy(out, 0);
  for (const k of order) {
    const s = offsets[k] as number;
    const e = offsets[k + 1] as number;
    if (o + (e - s) > out.length) {
      writeSync(fd, out, 0, o);
      o = 0;
    }
    o += buf.copy(out, o, s, e);
  }
  writeSync(fd, out, 0, o);
  closeSync(fd);
  return { sorted, shuffled, truth: { plain: plain.truth(), role: role.truth() }, bytes: header.length + pos };
}
