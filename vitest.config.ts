import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // vitest's default on 2 cores is ONE worker (cores − 1), so every test file waited for the one before.
    // Much of the suite waits on timers and sockets (fake latency, Retry-After, progress intervals) rather
    // than computing, so a few more workers than cores overlap those waits; tests already tolerate load.
    maxWorkers: 3,
    // Each worker imports src/ and its dependencies (undici, commander, pg, vite's transforms) once, not once per
    // test file: with isolation that was ~half of the suite's CPU time (user+sys 168 s → 78 s, wall 211 → 77 s
    // under the same load, 2 cores). Safe here: no test file mocks a module or mutates process-wide state it
    // does not restore (runCli checks that no process listener is left behind), and spawned CLIs are separate
    // processes anyway.
    isolate: false,
    // e2e tests run the CLI and a fake server, and some unit tests parse megabytes: give them room on a
    // shared, loaded 2-core machine (30 s was once not enough for the csv-parser record-size cap test).
    testTimeout: 60_000,
    hookTimeout: 60_000,
    globalSetup: ["test/global-setup.ts"],
  },
});
