// Unit tests of the console's logic (npm test; make test runs them before
// the Go tests). Node environment: the tested modules are plain TypeScript.
import { defineConfig } from "vitest/config";

process.env.TZ = "UTC";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
