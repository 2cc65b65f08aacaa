// The page is built into registry/assets/web/ with fixed file names: the service compiles those
// files into its binary (registry/src/http/web.rs) and serves them under /ui/.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/ui/',
  build: {
    outDir: process.env.SEAM_WEB_OUT || '../registry/assets/web',
    emptyOutDir: true,
    assetsDir: '',
    // Plain files with fixed names: the page's script and style sheet, and the query editor
    // (CodeMirror) as a chunk of its own, loaded when the Query section is opened.
    cssCodeSplit: false,
    modulePreload: false,
    target: 'es2022',
    rollupOptions: {
      output: {
        entryFileNames: 'app.js',
        chunkFileNames: 'app-[name].js',
        assetFileNames: 'app[extname]',
      },
    },
  },
});
