import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The console serves the built app from the Go package in this directory
// (web.go embeds dist/). `npm run dev` proxies the API to a console running
// locally: RISKMAP_CONSOLE=https://127.0.0.1:8443 by default.
const consoleURL = process.env.RISKMAP_CONSOLE ?? "https://127.0.0.1:8443";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist/app",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    // Inline nothing: the console's Content-Security-Policy forbids data: scripts.
    assetsInlineLimit: 0,
    // Graph views are lazy-loaded chunks; the shell must stay small. The
    // largest chunk is the topology page's (cytoscape and the plain-canvas
    // map, about 460 kB, 146 kB gzipped), loaded only when the map is opened.
    chunkSizeWarningLimit: 500,
  },
  server: {
    host: "127.0.0.1",
    proxy: {
      "/api": { target: consoleURL, secure: false, changeOrigin: true },
      "/healthz": { target: consoleURL, secure: false, changeOrigin: true },
    },
  },
});
