// Prints, as JSON, the command, args and env that a host runs for an
// unpacked MCP bundle, as the reference implementation computes them
// (getMcpConfigForManifest in @anthropic-ai/mcpb): platform overrides for
// this platform, user_config defaults and values, ${__dirname}, ${HOME}
// and the other system folders substituted.
//
// Usage: node scripts/mcpb-config.mjs BUNDLE_DIR ['{"user_config_key": value}'] ['{"HOME": "/home/pat"}']
import { readFileSync } from "node:fs";
import { join, sep } from "node:path";
import { homedir } from "node:os";
import { getMcpConfigForManifest } from "@anthropic-ai/mcpb";

const [dir, userConfig = "{}", systemDirs] = process.argv.slice(2);
if (!dir) {
  console.error("usage: node scripts/mcpb-config.mjs BUNDLE_DIR [USER_CONFIG_JSON] [SYSTEM_DIRS_JSON]");
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
const home = homedir();
const config = await getMcpConfigForManifest({
  manifest,
  extensionPath: dir,
  systemDirs: systemDirs
    ? JSON.parse(systemDirs)
    : { HOME: home, DESKTOP: join(home, "Desktop"), DOCUMENTS: join(home, "Documents"), DOWNLOADS: join(home, "Downloads") },
  userConfig: JSON.parse(userConfig),
  pathSeparator: sep,
});
if (!config) {
  console.error("mcpb-config: no configuration (a required user_config value is missing)");
  process.exit(1);
}
delete config.platform_overrides;
console.log(JSON.stringify(config, null, 2));
