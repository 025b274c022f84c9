/**
 * Preloaded with `--import`: writes "loaded package <url>" to stderr for every module loaded from
 * node_modules (imported or required), so that a test can tell which packages a command loads.
 */
import { registerHooks } from "node:module";

registerHooks({
  load(url, context, nextLoad) {
    if (url.includes("/node_modules/")) process.stderr.write(`loaded package ${url}\n`);
    return nextLoad(url, context);
  },
});
