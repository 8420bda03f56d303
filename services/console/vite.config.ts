// The console is served at /console/ by the Parkbase HTTP listener (--console_dir), on the API's own origin.
// `npm run dev` proxies the API to a local `parkbase serve` (scripts/dev.sh's :8080) so the page stays same-origin.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/console/',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, target: 'es2022' },
  server: { proxy: { '/v1': process.env.PARKBASE_HTTP_URL ?? 'http://127.0.0.1:8080' } },
  test: { include: ['test/**/*.test.ts'], environment: 'node' },
});
