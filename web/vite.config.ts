import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

// The build lands inside the Python package so `make run` serves it without Node.
export default defineConfig({
  base: "/console/",
  plugins: [preact()],
  build: {
    outDir: "../src/alfred/web/console",
    emptyOutDir: true,
    assetsDir: "assets",
    // No inline scripts or data: URLs in the output: the console's CSP allows only 'self'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
