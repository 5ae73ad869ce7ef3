import { defineConfig } from 'vitest/config';

/**
 * Two projects. `unit`: every test not named `.live.`, which needs no root, no kernel tool,
 * no child process and no build (`npm run test:unit`, seconds). `live`: real sockets read back
 * through ss, /proc and netstat, network namespaces, child programs that load dist/, the packed
 * package. `npm test` runs both.
 */
export default defineConfig({
  test: {
    // Live tests share the kernel; each file runs in its own process.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/**/*.live.test.ts'] } },
      { extends: true, test: { name: 'live', include: ['test/**/*.live.test.ts'] } },
    ],
  },
});
