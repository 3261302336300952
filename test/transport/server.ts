// A tiny purpose-built HTTP server for the transport's integration tests: records what arrived, when,
// and lets each test answer (or hang, or hang up) as it likes.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { makeBatch } from "../../src/plan/serialize.js";
import type { Batch, Operation } from "../../src/plan/types.js";
import type { Relationship } from "../../src/model/types.js";

/** One request as the server received it. */
export interface Received {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
  /** Date.now() when the body had fully arrived. */
  at: number;
}

/** Answers request number `n` (0-based); may also leave it hanging or destroy the socket. */
export type Handler = (req: Received, res: ServerResponse, n: number) => unknown;

/** A running test server. */
export interface TestServer {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 port 0. */
export async function startServer(handler: Handler): Promise<TestServer> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r: Received = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at: Date.now(),
      };
      received.push(r);
      void handler(r, res, received.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Sends a JSON answer. */
export function reply(res: ServerResponse, status: number, body: unknown = {}, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
}

/** The posted batch's ops, as JSON. */
export interface PostedOp {
  type: string;
  identifiers: Record<string, string>;
  action: string;
  cio_relationships: { identifiers: Record<string, string> }[];
}

/** Parses a posted body. */
export function postedOps(r: Received): PostedOp[] {
  return (JSON.parse(r.body) as { batch: PostedOp[] }).batch;
}

/** Relationship count of each op of a posted body. */
export function shape(r: Received): number[] {
  return postedOps(r).map((op) => op.cio_relationships.length);
}

/** A relationship of person id `person` to object 1:`object`, from input line `line`. */
export function rel(line: number, person: string, object = "acme"): Relationship {
  return { index: line, line, person: { key: "id", value: person }, object: { typeId: "1", id: object } };
}

/** An object op relating `object` to the given people, one line each starting at `firstLine`. */
export function objectOp(object: string, people: string[], firstLine: number): Operation {
  return {
    type: "object",
    action: "add_relationships",
    object: { typeId: "1", id: object },
    relationships: people.map((p, i) => rel(firstLine + i, p, object)),
  };
}

/** A batch of the given ops. */
export function batchOf(...ops: Operation[]): Batch {
  return makeBatch(0, ops);
}
