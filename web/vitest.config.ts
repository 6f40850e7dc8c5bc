// Unit tests of the console's logic (npm test; make test runs them before
// the Go tests). Node environment: the tested modules are plain TypeScript;
// a hook test asks for happy-dom in its first line.
import { defineConfig } from "vitest/config";

process.env.TZ = "UTC";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    environment: "node",
  },
});
