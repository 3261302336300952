import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // e2e tests spawn the built CLI and a fake server; give them room on a shared 2-core machine.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    globalSetup: ["test/global-setup.ts"],
  },
});
