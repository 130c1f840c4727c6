/**
 * The two browser SDKs as they are published on npm, bundled by esbuild into
 * one self-contained script each (no chunk or plugin is fetched from a CDN:
 * the machine has no internet, and a test must not depend on one). The
 * bundles are inlined into the test pages (browser-sdks.int.test.ts).
 */
import { build } from 'esbuild';

async function bundle(contents: string): Promise<string> {
  const out = await build({
    stdin: { contents, resolveDir: import.meta.dirname ?? new URL('.', import.meta.url).pathname, loader: 'js' },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const text = out.outputFiles[0]?.text;
  if (!text) throw new Error('esbuild produced nothing');
  // Inlined into <script>: a literal "</script" inside would end the element.
  return text.replaceAll('</script', '<\\/script');
}

/** window.AnalyticsBrowser (Segment's @segment/analytics-next). */
export function segmentBundle(): Promise<string> {
  return bundle("import { AnalyticsBrowser } from '@segment/analytics-next'; window.AnalyticsBrowser = AnalyticsBrowser;");
}

/** window.RudderAnalytics (RudderStack's @rudderstack/analytics-js v3, the build with its plugins bundled). */
export function rudderBundle(): Promise<string> {
  return bundle("import { RudderAnalytics } from '@rudderstack/analytics-js/bundled'; window.RudderAnalytics = RudderAnalytics;");
}
